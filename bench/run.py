"""`make bench`: the tracker at scale, measured from outside as clients see it.

    make bench                          # 1,000,000 cases (and 10,000 for comparison)
    make bench CASES=200000             # a smaller run
    python bench/run.py --cases 20000 --load-seconds 10      # a quick one while developing

For each size (10,000 cases, then --cases) it

1. recreates a dedicated PostgreSQL database (the one in DATABASE_URL for --cases, the same
   name with a "10k" suffix for 10,000; the name must contain "bench": the bench drops it),
   migrates it, times `generate_cases --cases N --seed 1`, then runs VACUUM ANALYZE (what
   autovacuum would do after a bulk load; timed apart);
2. gives the generated provincial supervisor a password, creates a read-only API client of the
   provincial commission and tokens for fifty generated inspectors and supervisors;
3. starts the production server (`make serve`: gunicorn, debug off) on a free port and measures
   with real HTTP requests, one at a time after a warm-up: completion stats (each group_by,
   with and without as_of), a filtered case list, Chinese text search, case detail (API and
   pages), and the dashboard page of a signed-in supervisor;
4. runs a load test: fifty clients (one thread each, pausing --think-ms, default 500 ms, between
   requests, as people and polling systems do) for --load-seconds on
   list, detail and status change; 409 (another move came first) is a business answer, errors
   are 5xx, unexpected 4xx, timeouts and refused connections;
5. with the server stopped: a ledger export of 100,000 rows as the worker runs it (time and the
   process's peak memory), the reminder sweep over all cases (`send_reminders --no-deliver`);
6. counts the SQL queries of one request of each kind (Django's test client, same database).

It prints a table (each figure at 10k and at N, the growth, the target) and writes it as JSON
to bench/results-<N>.json, and to bench/results.json for a full run. Sizes are compared at
p95 (p50 in the JSON). API rate limits are raised on the bench server: it measures the
application, not the limiter (which still runs on every request).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LOGS = ROOT / "var" / "bench"
PYTHON = sys.executable
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tracker_bench"
HOST = "127.0.0.1"

# Request groups, in the order they run; --only picks among these and the other steps.
GROUPS = ["stats", "list", "search", "detail", "pages", "dashboard"]
STEPS = ["generate", *GROUPS, "load", "export", "sweep", "queries"]

SEARCH_TERMS = [
    "采购",
    "耕地",
    "招投标",
    "津贴补贴",
    "公务用车",
    "安全隐患",
    "专项资金",
    "取水许可",
    "办事指南",
    "债务化解",
    "教育局",
    "惠民资金",
    "营商环境",
    "排污许可",
    "形式主义",
]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "ms" for request timings (p95 compared), else the unit of a single value
    group: str
    limit: float | None = None  # the target at the large size: value ≤ limit
    growth: float | None = None  # and large ≤ growth × small


METRICS = [
    Metric("generate", "generate_cases", "s", "generate", 120),
    Metric("analyze", "VACUUM ANALYZE after the load", "s", "generate"),
    Metric("maintain", "maintain_tally after the load (13 snapshots)", "s", "generate"),
    Metric("stats_as_of_first", "stats as_of, first request of a day", "ms", "stats"),
    *(
        Metric(f"stats_{by}{suffix}", f"stats group_by={by}{label}", "ms", "stats", 50, 2.0)
        for by in ("inspection", "unit", "region")
        for suffix, label in (("", ""), ("_as_of", " as_of"))
    ),
    Metric("list", "case list, filtered (API)", "ms", "list", 50),
    Metric("search", "Chinese search (API)", "ms", "search", 100),
    Metric("detail", "case detail (API)", "ms", "detail", 30),
    Metric("list_page", "case list page, filtered", "ms", "pages", 50),
    Metric("detail_page", "case page", "ms", "pages", 30),
    Metric("dashboard", "dashboard page", "ms", "dashboard", 200),
    Metric("load_p95", "load: 50 clients", "ms", "load", 300),
    Metric("load_errors", "load: errors", "", "load", 0),
    Metric("load_rps", "load: requests/s", "/s", "load"),
    Metric("load_conflicts", "load: 409 (moved first)", "", "load"),
    Metric("export_seconds", "export ~100k rows: time", "s", "export", 30),
    Metric("export_mb", "export ~100k rows: peak RSS", "MB", "export", 300),
    Metric("export_rows", "export: rows", "", "export"),
    Metric("sweep", "reminder sweep, all cases", "s", "sweep", 60),
]
OPTIONS_RECORDED = ("requests", "warmup", "budget", "timeout", "load_seconds", "think_ms",
                    "step_timeout")  # fmt: skip


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


# --- Processes and databases -------------------------------------------------------------


@dataclass
class Step:
    seconds: float
    peak_mb: float
    stdout: str
    stderr: str
    ok: bool = True


def run_step(
    args: list[str], env: dict[str, str], *, check: bool = True, timeout: float | None = None
) -> Step:
    """Run a child process, with its wall time and its own peak resident memory (wait4);
    killed after `timeout` seconds (then not ok)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=err)  # noqa: S603 (commands written in this script, no shell)
        timer = threading.Timer(timeout or 0, process.kill)
        if timeout:
            timer.start()
        _pid, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        step = Step(
            seconds,
            usage.ru_maxrss / 1024,
            out.read().decode(),
            err.read().decode(),
            process.returncode == 0,
        )
        if timeout and seconds >= timeout:
            step.stderr += f"\nkilled after {timeout:g} s"
    if check and process.returncode != 0:
        raise SystemExit(
            f"{' '.join(args[:4])} failed ({process.returncode}):\n{step.stderr[-3000:]}"
        )
    return step


def last_json(text: str) -> Any:
    return json.loads(text.strip().splitlines()[-1])


def database_url(base: str, name: str) -> str:
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/")


def recreate_database(url: str) -> None:
    name = database_name(url)
    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_exists(url: str) -> bool:
    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database_name(url)]
        ).fetchone()
    return found is not None


def vacuum_analyze(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def database_facts(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        version = conn.execute("SHOW server_version").fetchone()
    return {
        "database_mb": round((size[0] if size else 0) / 2**20),
        "postgres": version[0] if version else "",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """`make serve` in its own process group (make, the shell and gunicorn stop together)."""

    def __init__(self, env: dict[str, str], port: int, logfile: Path) -> None:
        self.port = port
        self.logfile = logfile
        self.out = logfile.open("wb")
        # -o: the bench target already installed the package; never reinstall mid-run.
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/.installed-base", "serve"],  # noqa: S607 (make on PATH, as a developer runs it)
            cwd=ROOT,
            env={**env, "PORT": str(port)},
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server stopped; see {self.logfile}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if request(self.port, "GET", "/healthz", timeout=2).status == 200:
                    return
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"the server did not answer /healthz; see {self.logfile}")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.out.close()


# --- HTTP -----------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    seconds: float
    body: bytes = b""
    cookies: dict[str, str] = field(default_factory=dict)
    error: str = ""


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 60,
) -> Response:
    """One request on a fresh connection (gunicorn's sync workers close each one anyway),
    timed until the last byte of the body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        data = answer.read()
        seconds = time.perf_counter() - started
        cookies = {}
        for header in answer.msg.get_all("Set-Cookie") or []:
            name, _sep, rest = header.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
        return Response(answer.status, seconds, data, cookies)
    except (OSError, http.client.HTTPException) as error:
        return Response(0, time.perf_counter() - started, error=type(error).__name__)
    finally:
        conn.close()


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None


def sign_in(port: int, username: str, password: str) -> dict[str, str] | None:
    """The login form, as a browser fills it: the headers of a signed-in session, or None
    (logged) if signing in fails."""
    page = request(port, "GET", "/accounts/login/")
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    if page.status != 200 or match is None or "csrftoken" not in page.cookies:
        log(f"  login page: {page.status or page.error} {page.body[:300]!r}")
        return None
    form = urllib.parse.urlencode(
        {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": match.group(1).decode(),
            "next": "",
        }
    ).encode()
    done = request(
        port,
        "POST",
        "/accounts/login/",
        {
            "Cookie": f"csrftoken={page.cookies['csrftoken']}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"http://{HOST}:{port}",
        },
        form,
    )
    if done.status != 302 or "sessionid" not in done.cookies:
        log(f"  login failed: {done.status or done.error} {done.body[:300]!r}")
        return None
    return {
        "Cookie": f"sessionid={done.cookies['sessionid']}",
        "Accept-Language": "zh-hans",
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(p) - 1]


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "n": len(samples),
        "p50": round(percentile(samples, 50), 1),
        "p95": round(percentile(samples, 95), 1),
        "mean": round(statistics.fmean(samples), 1) if samples else None,
        "max": round(max(samples), 1) if samples else None,
    }


def ok(response: Response) -> bool:
    return 200 <= response.status < 300


def measure(port: int, requests: Iterator[Req], opts: argparse.Namespace) -> dict[str, Any]:
    """Sequential requests: a warm-up, then up to --requests timed ones; a slow endpoint stops
    after --budget seconds (with at least 3 samples, or at the first failure)."""
    started = time.monotonic()
    for _ in range(opts.warmup):
        req = next(requests)
        warm = request(port, req.method, req.path, req.headers, req.body, timeout=opts.timeout)
        if not ok(warm):
            log(f"    warm-up {req.path}: {warm.status or warm.error} {warm.body[:200]!r}")
        if not ok(warm) or time.monotonic() - started > opts.budget / 4:
            break
    samples: list[float] = []
    statuses: Counter[str] = Counter()
    errors = 0
    started = time.monotonic()
    while len(samples) < opts.requests:
        req = next(requests)
        answer = request(port, req.method, req.path, req.headers, req.body, timeout=opts.timeout)
        statuses[str(answer.status or answer.error)] += 1
        if ok(answer):
            samples.append(answer.seconds * 1000)
        else:
            errors += 1
            if errors <= 3:
                log(f"    {req.path}: {answer.status or answer.error} {answer.body[:200]!r}")
        if time.monotonic() - started > opts.budget and (len(samples) >= 3 or errors):
            break
    return {**summary(samples), "errors": errors, "statuses": dict(statuses)}


def month_ends(today: date, count: int = 11) -> list[date]:
    """The last days of the `count` months before today's (the dashboard's trend points)."""
    days: list[date] = []
    cursor = today.replace(day=1) - timedelta(days=1)
    while len(days) < count:
        days.append(cursor)
        cursor = cursor.replace(day=1) - timedelta(days=1)
    return days


def first_days(port: int, setup: dict[str, Any], opts: argparse.Namespace) -> dict[str, Any]:
    """The first as_of request for each past day the bench uses (its as_of dates and the
    dashboard's month ends). No request builds figures: beat (`maintain_tally`, run once after
    the load above) builds the kept days' snapshots, and a day it has not built yet answers
    409 `not_built_yet` for a large selection, counted here as an error. Timed apart, so the
    as_of figures and the dashboard are then measured as they run from the second request
    on."""
    headers = {"Authorization": f"Token {setup['reader_token']}"}
    days = set(setup["as_of"]) | {
        day.isoformat() for day in month_ends(date.fromisoformat(setup["today"]))
    }
    samples, errors = [], 0
    for day in sorted(days):
        path = f"/api/v1/stats/completion/?group_by=inspection&as_of={day}"
        answer = request(port, "GET", path, headers, timeout=opts.timeout)
        if ok(answer):
            samples.append(answer.seconds * 1000)
        else:
            errors += 1
            log(f"    {path}: {answer.status or answer.error}")
    figures = {**summary(samples), "errors": errors}
    log(f"  {'stats as_of, first request of a day':<34} p50 {figures['p50']:>8} ms  p95 "
        f"{figures['p95']:>8} ms  (n={figures['n']}, errors {errors})")  # fmt: skip
    return figures


def cycle(rng: random.Random, make: Callable[[random.Random], Req]) -> Iterator[Req]:
    while True:
        yield make(rng)


def request_sets(
    setup: dict[str, Any], session: dict[str, str]
) -> dict[str, Callable[[random.Random], Req]]:
    """How each measured request is made: realistic filters and terms, varied across requests
    (a cache that only serves one repeated request would not show here)."""
    api = {"Authorization": f"Token {setup['reader_token']}", "Accept-Language": "zh-hans"}
    inspections, units, regions = setup["inspections"], setup["units"], setup["regions"]
    ids, as_of = setup["detail_ids"], setup["as_of"]

    def get(path: str, headers: dict[str, str] = api) -> Req:
        return Req("GET", path, headers)

    def stats(by: str, dated: bool) -> Callable[[random.Random], Req]:
        def make(rng: random.Random) -> Req:
            day = f"&as_of={rng.choice(as_of)}" if dated else ""
            return get(f"/api/v1/stats/completion/?group_by={by}{day}")

        return make

    def filters(rng: random.Random) -> str:
        kind = rng.randrange(5)
        if kind == 0 or not units:
            return f"inspection={rng.choice(inspections)}&status=open,in_progress"
        if kind == 1:
            return f"responsible_unit={rng.choice(units)}&light=red"
        if kind == 2 and regions:
            return f"region={rng.choice(regions)}&overdue=true"
        if kind == 3:
            return f"inspection={rng.choice(inspections)}&light=yellow&ordering=-updated_at"
        return f"responsible_unit={rng.choice(units)}&status=submitted&ordering=deadline"

    def search(rng: random.Random) -> Req:
        term = urllib.parse.quote(rng.choice(SEARCH_TERMS))
        return get(f"/api/v1/cases/?search={term}")

    makers: dict[str, Callable[[random.Random], Req]] = {
        f"stats_{by}{suffix}": stats(by, bool(suffix))
        for by in ("inspection", "unit", "region")
        for suffix in ("", "_as_of")
    }
    makers.update(
        {
            "list": lambda rng: get(f"/api/v1/cases/?{filters(rng)}"),
            "search": search,
            "detail": lambda rng: get(f"/api/v1/cases/{rng.choice(ids)}/"),
            "list_page": lambda rng: get(f"/cases/?{filters(rng)}", session),
            "detail_page": lambda rng: get(f"/cases/{rng.choice(ids)}/", session),
            "dashboard": lambda rng: get("/dashboard/", session),
        }
    )
    return makers


# --- Load test ---------------------------------------------------------------------------------

NEXT_STATE = {"open": "in_progress", "in_progress": "escalated", "escalated": "in_progress"}
LIST_FILTERS = ["status=open,in_progress", "light=red", "light=yellow", "ordering=-updated_at", ""]


def load_client(
    port: int,
    spec: dict[str, Any],
    seed: int,
    stop_at: float,
    think: float,
    timeout: float,
    out: list[tuple[str, str, float]],
) -> None:
    """One client: 40% list, 40% detail, 20% status change on its own cases."""
    rng = random.Random(seed)  # noqa: S311 (sampling, not secrets)
    headers = {"Authorization": f"Token {spec['token']}", "Accept-Language": "zh-hans"}
    pool = {int(pk): status for pk, status in spec["pool"]}
    while time.monotonic() < stop_at:
        roll = rng.random()
        body = None
        if roll < 0.4 or not pool:
            op, method = "list", "GET"
            path = f"/api/v1/cases/?page_size=20&{rng.choice(LIST_FILTERS)}"
        elif roll < 0.8:
            op, method = "detail", "GET"
            path = f"/api/v1/cases/{rng.choice(list(pool))}/"
        else:
            op, method = "status", "POST"
            pk = rng.choice(list(pool))
            path = f"/api/v1/cases/{pk}/transitions/"
            to = NEXT_STATE[pool[pk]]
            body = json.dumps({"to": to, "note": "基准测试：状态变更"}).encode()
        send = {**headers, "Content-Type": "application/json"} if body else headers
        answer = request(port, method, path, send, body, timeout=timeout)
        if answer.error:
            kind = answer.error
        elif answer.status == 409:
            kind = "409"
        elif ok(answer):
            kind = "ok"
        else:
            kind = str(answer.status)
        out.append((op, kind, answer.seconds * 1000))
        if op == "status" and kind == "ok":
            pool[pk] = to
        elif op == "status" and kind == "409":
            # Someone else moved it (no one should: the pools are disjoint): read it again.
            fresh = request(port, "GET", f"/api/v1/cases/{pk}/", headers, timeout=timeout)
            if ok(fresh):
                status = json.loads(fresh.body)["status"]
                if status in NEXT_STATE:
                    pool[pk] = status
                else:
                    del pool[pk]
        if think:
            time.sleep(think)


def load_test(port: int, clients: list[dict[str, Any]], opts: argparse.Namespace) -> dict:
    records: list[list[tuple[str, str, float]]] = [[] for _ in clients]
    stop_at = time.monotonic() + opts.load_seconds
    threads = [
        threading.Thread(
            target=load_client,
            args=(port, spec, index, stop_at, opts.think_ms / 1000, opts.timeout, records[index]),
            daemon=True,
        )
        for index, spec in enumerate(clients)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    flat = [record for per_client in records for record in per_client]
    answered = [ms for _op, kind, ms in flat if kind in ("ok", "409")]
    kinds = Counter(kind for _op, kind, _ms in flat)
    errors = sum(count for kind, count in kinds.items() if kind not in ("ok", "409"))
    by_op = {
        op: {
            **summary([ms for o, kind, ms in flat if o == op and kind in ("ok", "409")]),
            "errors": sum(1 for o, kind, _ms in flat if o == op and kind not in ("ok", "409")),
        }
        for op in ("list", "detail", "status")
    }
    return {
        "clients": len(clients),
        "seconds": round(elapsed, 1),
        "requests": len(flat),
        "rps": round(len(flat) / elapsed, 1) if elapsed else 0,
        **summary(answered),
        "errors": errors,
        "conflicts": kinds.get("409", 0),
        "outcomes": dict(kinds),
        "by_op": by_op,
    }


# --- One size ----------------------------------------------------------------------------------


def environment(url: str, exports: Path) -> dict[str, str]:
    """Production settings (debug off) on the bench database, for the server and every step."""
    # Not make's own variables: `make bench DATABASE_URL=…` passes them to the `make serve`
    # started here, where they would override this size's database.
    inherited = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    env = {
        **inherited,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        # One key for every step of this size: generation seals the history the server extends.
        "HISTORY_SEAL_KEY": secrets.token_urlsafe(32),
        "DJANGO_ALLOWED_HOSTS": f"{HOST},testserver",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "API_THROTTLE_USER": "1000000/minute",
        "LEDGER_FILES_ROOT": str(exports),
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    return env


def bench_size(size: int, url: str, opts: argparse.Namespace) -> dict[str, Any]:
    wanted = set(opts.only or STEPS)
    result: dict[str, Any] = {"cases": size, "database": database_name(url)}
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as exports:
        env = environment(url, Path(exports))
        if "generate" in wanted and not opts.skip_generate:
            log(f"{size:,} cases: recreating {database_name(url)}")
            recreate_database(url)
            step = run_step([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
            result["migrate"] = {"value": round(step.seconds, 1)}
            log(f"  migrate {step.seconds:.1f} s; generate_cases --cases {size} --seed 1 …")
            step = run_step(
                [PYTHON, "manage.py", "generate_cases", "--cases", str(size), "--seed", "1"], env
            )
            result["generate"] = {"value": round(step.seconds, 1), "peak_mb": round(step.peak_mb)}
            log(f"  generated in {step.seconds:.1f} s (peak {step.peak_mb:.0f} MB); analyzing …")
            started = time.perf_counter()
            vacuum_analyze(url)
            result["analyze"] = {"value": round(time.perf_counter() - started, 1)}
            log(f"  VACUUM ANALYZE {result['analyze']['value']} s")
            # What the beat task does every ten minutes: today's roll-ups and the month-end
            # snapshots the dashboard's trend and as_of requests read (timed apart).
            step = run_step([PYTHON, "manage.py", "maintain_tally"], env)
            result["maintain"] = {"value": round(step.seconds, 1)}
            log(f"  maintain_tally {step.seconds:.1f} s")
        elif not database_exists(url):
            raise SystemExit(f"{database_name(url)} does not exist: run without --skip-generate")
        password = secrets.token_urlsafe(16)
        log("  accounts, tokens and samples …")
        setup = last_json(
            run_step(
                [PYTHON, str(BENCH / "inproc.py"), "setup", "--password", password], env
            ).stdout
        )
        if setup["cases"] != size:
            log(f"  note: {database_name(url)} holds {setup['cases']:,} cases, not {size:,}")
        result["facts"] = {
            "cases": setup["cases"],
            "events": setup["events"],
            **database_facts(url),
            # The machine's load when the measurements start and end: others' work skews them.
            "loadavg_start": [round(value, 1) for value in os.getloadavg()],
        }
        groups = [group for group in GROUPS if group in wanted]
        # One request of each kind, for counting its SQL queries in-process.
        representative: dict[str, Any] = {}
        for key, make in request_sets(setup, {}).items():
            req = make(random.Random(key))  # noqa: S311 (sampling, not secrets)
            auth = req.headers.get("Authorization", "Token session").split()[-1]
            representative[key] = {"method": "GET", "path": req.path, "auth": auth}
        if groups or "load" in wanted:
            port = free_port()
            LOGS.mkdir(parents=True, exist_ok=True)
            server = Server(env, port, LOGS / f"server-{size}.log")
            try:
                server.wait_ready()
                log(f"  server up on :{port} (WEB_CONCURRENCY={env.get('WEB_CONCURRENCY', 3)})")
                session = sign_in(port, setup["supervisor"], password)
                makers = request_sets(setup, session or {})
                if "stats" in groups or "dashboard" in groups:
                    result["stats_as_of_first"] = first_days(port, setup, opts)
                for metric in METRICS:
                    if metric.group not in groups or metric.key not in makers:
                        continue
                    if session is None and metric.group in ("pages", "dashboard"):
                        result[metric.key] = {"n": 0, "errors": 1, "statuses": {"login": 1}}
                        continue
                    rng = random.Random(metric.key)  # noqa: S311 (sampling, not secrets)
                    result[metric.key] = measure(port, cycle(rng, makers[metric.key]), opts)
                    figures = result[metric.key]
                    log(
                        f"  {metric.label:<34} p50 {figures['p50']:>8} ms  p95 "
                        f"{figures['p95']:>8} ms  (n={figures['n']}, errors {figures['errors']})"
                    )
                if "load" in wanted:
                    log(f"  load: {len(setup['load_clients'])} clients, {opts.load_seconds} s …")
                    load = load_test(port, setup["load_clients"], opts)
                    result["load"] = load
                    result["load_p95"] = {key: load[key] for key in ("n", "p50", "p95")}
                    result["load_errors"] = {"value": load["errors"]}
                    result["load_rps"] = {"value": load["rps"]}
                    result["load_conflicts"] = {"value": load["conflicts"]}
                    log(
                        f"  load: {load['requests']} requests, {load['rps']}/s, p50 "
                        f"{load['p50']} ms, p95 {load['p95']} ms, errors {load['errors']}, "
                        f"409 {load['conflicts']}; {load['outcomes']}"
                    )
            finally:
                server.stop()
        if "export" in wanted:
            log(f"  export of {setup['export_rows']:,} rows ({setup['export_query'] or 'all'}) …")
            step = run_step(
                [PYTHON, str(BENCH / "inproc.py"), "export", "--query", setup["export_query"]],
                env,
                check=False,
                timeout=opts.step_timeout,
            )
            done: dict[str, Any] = last_json(step.stdout) if step.ok else {"status": "crashed"}
            if done["status"] == "done":
                result["export_seconds"] = {"value": round(done["seconds"], 1)}
                result["export_mb"] = {"value": round(step.peak_mb)}
                result["export_rows"] = {"value": done["rows"], "bytes": done["bytes"]}
                log(f"  export: {done['rows']:,} rows in {done['seconds']:.1f} s, "
                    f"{step.peak_mb:.0f} MB")  # fmt: skip
            else:
                log(f"  export failed: {done} {step.stderr[-2000:]}")
                for key in ("export_seconds", "export_mb", "export_rows"):
                    result[key] = {"value": None, "errors": 1, "error": step.stderr[-2000:]}
        if "sweep" in wanted:
            step = run_step(
                [PYTHON, "manage.py", "send_reminders", "--no-deliver"],
                env,
                check=False,
                timeout=opts.step_timeout,
            )
            result["sweep"] = {
                "value": round(step.seconds, 1) if step.ok else None,
                "errors": 0 if step.ok else 1,
                "output": step.stdout.strip() if step.ok else step.stderr[-2000:],
            }
            log(f"  sweep: {step.seconds:.1f} s ({result['sweep']['output'][-300:]})")
        if "queries" in wanted:
            client = setup["load_clients"][0]
            if client["pool"]:
                pk = client["pool"][0][0]
                representative["status_change"] = {
                    "method": "POST",
                    "path": f"/api/v1/cases/{pk}/transitions/",
                    "auth": client["token"],
                    "body": {"to": "@next", "note": "基准测试：状态变更"},
                }
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
                json.dump(representative or {}, spec)
            try:
                step = run_step(
                    [PYTHON, str(BENCH / "inproc.py"), "queries", "--requests", spec.name],
                    env,
                    check=False,
                )
            finally:
                os.unlink(spec.name)
            if step.ok:
                result["queries"] = last_json(step.stdout)
            else:
                log(f"  counting queries failed: {step.stderr[-2000:]}")
            log(f"  SQL queries per request: {result['queries']}")
    result["facts"]["loadavg_end"] = [round(value, 1) for value in os.getloadavg()]
    return result


# --- Report ----------------------------------------------------------------------------------


def figure(entry: dict[str, Any] | None, metric: Metric) -> float | None:
    if not entry:
        return None
    value = entry.get("p95") if metric.unit == "ms" else entry.get("value")
    if metric.unit == "ms" and entry.get("errors"):
        return None  # a timing with failed requests is not a figure
    return value


def verdict(metric: Metric, small: float | None, large: float | None) -> str:
    if metric.limit is None:
        return ""
    if large is None:
        return "FAIL"
    passed = large <= metric.limit
    if metric.growth is not None and small:
        passed = passed and large <= metric.growth * small
    return "ok" if passed else "FAIL"


def table(results: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    small_key, large_key = str(results["small"]), str(results["cases"])
    sizes = results["sizes"]
    large = sizes.get(large_key, {})
    small = sizes.get(small_key, {}) if small_key != large_key else {}
    rows: list[dict[str, Any]] = []
    for metric in METRICS:
        if metric.key not in small and metric.key not in large:
            continue
        a, b = figure(small.get(metric.key), metric), figure(large.get(metric.key), metric)
        target = ""
        if metric.limit == 0:
            target = "0"
        elif metric.limit is not None:
            target = f"≤ {metric.limit:g}{' ' + metric.unit if metric.unit else ''}"
            if metric.growth is not None:
                target += f", ≤ {metric.growth:g}× 10k"
        rows.append(
            {
                "metric": metric.key,
                "label": metric.label + (" p95" if metric.unit == "ms" else ""),
                "unit": metric.unit,
                "small": a,
                "large": b,
                "growth": round(b / a, 1) if a and b is not None else None,
                "target": target,
                "result": verdict(metric, a, b),
                "queries": [
                    size.get("queries", {}).get(metric.key, {}).get("queries")
                    for size in (small, large)
                ],
                "errors": [(size.get(metric.key) or {}).get("errors") for size in (small, large)],
            }
        )
    if "queries" in large:
        status = large["queries"].get("status_change")
        if status:
            small_status = small.get("queries", {}).get("status_change", {})
            rows.append(
                {"metric": "status_change", "label": "status change (API), SQL only",
                 "unit": "", "small": None, "large": None, "growth": None, "target": "",
                 "result": "", "queries": [small_status.get("queries"), status["queries"]],
                 "errors": [None, None]}
            )  # fmt: skip

    head = ["metric", f"{int(small_key):,}", f"{int(large_key):,}", "growth", "target",
            "result", "SQL/request"]  # fmt: skip
    lines = [head, *(cells(row) for row in rows)]
    widths = [max(_width(line[i]) for line in lines) for i in range(len(head))]
    text = "\n".join(
        "  ".join(_pad(value, widths[i], right=0 < i < 4) for i, value in enumerate(line))
        for line in lines
    )
    return rows, text


def cells(row: dict[str, Any]) -> list[str]:
    """A table row as text: label, both sizes, growth, target, result, SQL queries."""
    unit = f" ({row['unit']})" if row["unit"] else ""
    values = [
        f"{errors} error{'s' if errors > 1 else ''}"
        if errors
        else ("—" if value is None else f"{value:g}")
        for value, errors in zip((row["small"], row["large"]), row["errors"], strict=True)
    ]
    q = row["queries"]
    queries = "" if q == [None, None] else f"{'—' if q[0] is None else q[0]} → {q[1]}"
    growth = f"{row['growth']:g}×" if row["growth"] is not None else ""
    return [row["label"] + unit, *values, growth, row["target"], row["result"], queries]


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    space = " " * (width - _width(text))
    return space + text if right else text + space


def markdown(results: dict[str, Any]) -> str:
    small, large = results["small"], results["cases"]
    lines = [
        f"| metric | {small:,} cases | {large:,} cases | growth | target | result | SQL/request |",
        "|---|--:|--:|--:|---|---|---|",
    ]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in results["table"]]
    return "\n".join(lines)


def git_commit() -> str:
    try:
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
            [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return ""
    return head + ("+changes" if dirty else "")


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "web_concurrency": int(os.environ.get("WEB_CONCURRENCY", "3")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Generate N cases, serve them with `make serve` and measure from outside.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--cases", type=int, default=1_000_000, help="large size (1000000)")
    parser.add_argument("--small", type=int, default=10_000, help="comparison size (10000)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per metric")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests first")
    parser.add_argument(
        "--budget", type=float, default=30, help="seconds per metric before a slow one stops"
    )
    parser.add_argument("--timeout", type=float, default=60, help="seconds per request")
    parser.add_argument("--load-seconds", type=float, default=60)
    parser.add_argument(
        "--step-timeout", type=float, default=900, help="seconds before an export or sweep stops"
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=500,
        help="load clients' pause between requests (0: back to back, which measures queueing)",
    )
    parser.add_argument(
        "--skip-generate", action="store_true", help="reuse the databases of an earlier run"
    )
    parser.add_argument(
        "--only",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        help=f"comma-separated steps among: {', '.join(STEPS)}",
    )
    parser.add_argument("--no-small", action="store_true", help="skip the 10k comparison")
    parser.add_argument(
        "--report", metavar="JSON", help="print the table of an earlier run (Markdown) and stop"
    )
    opts = parser.parse_args()
    if opts.report:
        earlier = json.loads(Path(opts.report).read_text(encoding="utf-8"))
        earlier["table"] = table(earlier)[0]
        print(markdown(earlier))
        print(f"\n{earlier['date']}, commit {earlier['commit']}, {earlier['machine']}")
        return
    unknown = set(opts.only or []) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    base = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not base.startswith(("postgres://", "postgresql://")):
        parser.error("DATABASE_URL must be a PostgreSQL URL")
    name = database_name(base)
    if "bench" not in name:
        parser.error(
            f"the bench drops and recreates its databases: DATABASE_URL names {name!r}; "
            "use a dedicated database whose name contains 'bench' (e.g. tracker_bench)"
        )
    sizes = [opts.cases] if opts.no_small or opts.small == opts.cases else [opts.small, opts.cases]
    label = {opts.small: f"{opts.small // 1000}k" if opts.small % 1000 == 0 else str(opts.small)}
    urls = {
        size: base if size == opts.cases else database_url(base, name + label[size])
        for size in sizes
    }
    started = time.monotonic()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "cases": opts.cases,
        "small": opts.small,
        "options": {key: getattr(opts, key) for key in OPTIONS_RECORDED},
        "only": opts.only,
        "sizes": {},
    }
    for size in sizes:
        results["sizes"][str(size)] = bench_size(size, urls[size], opts)
    results["minutes"] = round((time.monotonic() - started) / 60, 1)
    rows, text = table(results)
    results["table"] = rows
    print()
    print(text)
    print(f"\n{results['date']}  commit {results['commit']}  {results['minutes']} min")
    BENCH.mkdir(exist_ok=True)
    targets = [BENCH / f"results-{opts.cases}.json"]
    if not opts.only:
        targets.append(BENCH / "results.json")
    for target in targets:
        target.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", "utf-8")
    (BENCH / f"results-{opts.cases}.md").write_text(markdown(results) + "\n", "utf-8")
    print(f"written: {', '.join(str(t.relative_to(ROOT)) for t in targets)}")


if __name__ == "__main__":
    main()
