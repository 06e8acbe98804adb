"""`make bench`: the tracker at scale, measured from outside as clients see it.

    make bench                          # 1,000,000 cases (and 10,000 for comparison)
    make bench CASES=200000             # a smaller run
    python bench/run.py --cases 20000 --load-seconds 10      # a quick one while developing

For each size (10,000 cases, then --cases) it

1. recreates a dedicated PostgreSQL database (the one in DATABASE_URL for --cases, the same
   name with a "10k" suffix for 10,000; the name must contain "bench": the bench drops it),
   migrates it, times `generate_cases --cases N --seed 1 --bench --force`, then runs VACUUM
   ANALYZE (what autovacuum would do after a bulk load; timed apart);
2. gives the generated provincial supervisor a password, creates a read-only API client of the
   provincial commission and tokens for 64 generated inspectors and supervisors (the load
   tests' clients);
3. starts the production server (`make serve`: gunicorn, debug off) on a free port and measures
   with real HTTP requests, one at a time after a warm-up: completion stats (each group_by,
   with and without as_of), a filtered case list, Chinese text search (a list of phrases,
   then by term class: the most common, median and rarest two-character words and single
   characters of a sample of the generated text, case code fragments, and 土地 扶贫 资金 采购
   审批; as the provincial supervisor and as an inspector), case detail (API and
   pages), and the dashboard page of a signed-in supervisor;
4. runs a load test with Locust (bench/locustfile.py, headless, CSV and HTML report under
   var/bench/): fifty users, each pausing --think-ms (default 500 ms) between requests, as
   people and polling systems do, for --load-seconds, on list, detail and status change; a 409
   (another move came first) is a business answer counted apart, failures are 5xx,
   unexpected 4xx, timeouts and refused connections; then the same mix in a closed loop (no
   think time: each user sends its next request once the last is answered) with 16 and then
   64 users, each its own client, for the server's saturation throughput and its p95 / p99;
   then the closed loop with 16 users again, with the replica's reads on a streaming standby
   of the database's server made for it (bench/replica.py; not measured, and why, when the
   server refuses replication connections from here); then, at the large size only, a fresh
   server's workers' memory after the first 1,000 and after --memory-requests requests of the
   mix (bench/memory.py);
5. with the server stopped: a ledger export of 100,000 rows as the worker runs it (time and the
   process's peak memory), the reminder sweep over all cases (`send_reminders --no-deliver`)
   with a digest step grouping again and again beside it, then the digest step, and the most
   messages any (sweep, channel, recipient or unit) has (target 1: a digest never splits);
6. counts the SQL queries of one request of each kind (Django's test client, same database).

It prints a table (each figure at 10k and at N, the growth, the target) and writes it as JSON
to bench/results-<N>.json, and to bench/results.json for a full run. Sizes are compared at
p95 (p50 in the JSON). API rate limits are raised on the bench server: it measures the
application, not the limiter (which still runs on every request).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import BENCH, LOGS, PYTHON, ROOT, log
from load import load_rows, load_test
from measure import cycle, first_days, measure, request_sets, sign_in
from memory import memory_step
from replica import replica_step
from report import METRICS, git_commit, machine, markdown, table
from steps import (
    Server,
    database_exists,
    database_facts,
    database_name,
    database_url,
    environment,
    free_port,
    last_json,
    recreate_database,
    run_step,
    vacuum_analyze,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tracker_bench"

# Request groups, in the order they run; --only picks among these and the other steps.
GROUPS = ["stats", "list", "search", "detail", "pages", "dashboard"]
STEPS = ["generate", *GROUPS, "load", "closed", "replica", "memory", "export", "sweep", "queries"]
LOAD_USERS = 50  # the think-time load test's users (the setup makes CLOSED_LOOP_USERS[-1] clients)
CLOSED_LOOP_USERS = (16, 64)
OPTIONS_RECORDED = ("requests", "warmup", "budget", "timeout", "load_seconds", "think_ms",
                    "step_timeout", "memory_requests")  # fmt: skip


# --- The steps of one size ---------------------------------------------------------------------


def generate(size: int, url: str, env: dict[str, str], result: dict[str, Any]) -> None:
    """A fresh database, migrated, with `size` generated cases, analyzed and rolled up."""
    log(f"{size:,} cases: recreating {database_name(url)}")
    recreate_database(url)
    step = run_step([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
    result["migrate"] = {"value": round(step.seconds, 1)}
    log(f"  migrate {step.seconds:.1f} s; generate_cases --cases {size} --seed 1 --bench --force …")
    generate = ["generate_cases", "--cases", str(size), "--seed", "1", "--bench", "--force"]
    step = run_step([PYTHON, "manage.py", *generate], env)
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


def prepare(
    size: int, url: str, env: dict[str, str], password: str, result: dict[str, Any]
) -> dict[str, Any]:
    """Accounts, tokens and request samples (bench/inproc.py setup), and the database's facts."""
    log("  accounts, tokens and samples …")
    setup: dict[str, Any] = last_json(
        run_step([PYTHON, str(BENCH / "inproc.py"), "setup", f"--password={password}"], env).stdout
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
    return setup


def representative_requests(setup: dict[str, Any]) -> dict[str, Any]:
    """One request of each kind, for counting its SQL queries in-process."""
    representative: dict[str, Any] = {}
    for key, make in request_sets(setup, {}).items():
        req = make(random.Random(key))  # noqa: S311 (sampling, not secrets)
        auth = req.headers.get("Authorization", "Token session").split()[-1]
        representative[key] = {"method": "GET", "path": req.path, "auth": auth}
    client = setup["load_clients"][0]
    if client["pool"]:
        representative["status_change"] = {
            "method": "POST",
            "path": f"/api/v1/cases/{client['pool'][0][0]}/transitions/",
            "auth": client["token"],
            "body": {"to": "@next", "note": "基准测试：状态变更"},
        }
    return representative


def measure_groups(
    port: int,
    setup: dict[str, Any],
    session: dict[str, str] | None,
    groups: list[str],
    opts: argparse.Namespace,
    result: dict[str, Any],
) -> None:
    """Each request of the chosen groups, one at a time (measure.py)."""
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
        result[metric.key] = figures = measure(port, cycle(rng, makers[metric.key]), opts)
        log(
            f"  {metric.label:<34} p50 {figures['p50']:>8} ms  p95 "
            f"{figures['p95']:>8} ms  (n={figures['n']}, errors {figures['errors']})"
        )


def measure_load(
    port: int, setup: dict[str, Any], opts: argparse.Namespace, result: dict[str, Any]
) -> None:
    """The Locust load test (load.py), its figures as the table's load rows."""
    clients = setup["load_clients"][:LOAD_USERS]
    log(f"  load: Locust, {len(clients)} users, {opts.load_seconds:g} s …")
    load = load_test(port, clients, opts, result["cases"])
    result["load"] = load
    if "p95" not in load:
        for key in ("load_p95", "load_errors", "load_rps", "load_conflicts"):
            result[key] = {"value": None, "n": 0, "errors": 1, "error": load.get("error")}
        return
    result["load_p95"] = {key: load[key] for key in ("n", "p50", "p95")}
    result["load_errors"] = {"value": load["errors"]}
    result["load_rps"] = {"value": load["rps"]}
    result["load_conflicts"] = {"value": load["conflicts"]}
    log(
        f"  load: {load['requests']} requests, {load['rps']}/s, p50 {load['p50']} ms, "
        f"p95 {load['p95']} ms, failures {load['errors']}, 409 {load['conflicts']}; "
        f"{load['outcomes'] or 'no failures'} ({load['csv']})"
    )


def measure_closed_loop(
    port: int, setup: dict[str, Any], opts: argparse.Namespace, result: dict[str, Any]
) -> None:
    """Closed loop: each user sends its next request as soon as the last is answered (no
    think time), so requests/s is the server's saturation throughput and the percentiles
    include waiting for a free gunicorn worker."""
    for users in CLOSED_LOOP_USERS:
        key = f"closed{users}"
        log(f"  closed loop: Locust, {users} users, no think time, {opts.load_seconds:g} s …")
        clients = setup["load_clients"][:users]
        load = load_test(port, clients, opts, result["cases"], name=f"-{key}", think_ms=0)
        result[key] = load
        if not load_rows(result, key, load, ("p95", "p99")):
            continue
        log(
            f"  closed loop {users}: {load['requests']} requests, {load['rps']}/s, "
            f"p95 {load['p95']} ms, p99 {load['p99']} ms, failures {load['errors']}"
        )


def serve_and_measure(
    env: dict[str, str],
    setup: dict[str, Any],
    password: str,
    wanted: set[str],
    opts: argparse.Namespace,
    result: dict[str, Any],
) -> None:
    """`make serve` on a free port, the sequential measurements, then the load test."""
    groups = [group for group in GROUPS if group in wanted]
    if not groups and "load" not in wanted and "closed" not in wanted:
        return
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    server = Server(env, port, LOGS / f"server-{result['cases']}.log")
    log(f"  make serve on :{port} (collectstatic first) …")
    try:
        # collectstatic compresses every static file each start, with brotli too where it is
        # installed (Locust brings it): a minute or more on a busy machine, not measured.
        server.wait_ready(timeout=opts.step_timeout)
        log(f"  server up (WEB_CONCURRENCY={env.get('WEB_CONCURRENCY', 3)})")
        session = sign_in(port, setup["supervisor"], password)
        measure_groups(port, setup, session, groups, opts, result)
        if "load" in wanted:
            measure_load(port, setup, opts, result)
        if "closed" in wanted:
            measure_closed_loop(port, setup, opts, result)
    finally:
        server.stop()


def export_step(
    env: dict[str, str], setup: dict[str, Any], opts: argparse.Namespace, result: dict[str, Any]
) -> None:
    """A ledger export of ~100,000 rows as the worker runs it: time and peak memory."""
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


def sweep_step(env: dict[str, str], opts: argparse.Namespace, result: dict[str, Any]) -> None:
    """The reminder sweep over all cases, with a digest step grouping again and again beside
    it (a delivery overlapping the sweep); then the digest step after it, and the check that
    no (sweep, channel, recipient or unit) got more than one message."""
    with tempfile.TemporaryDirectory(prefix="bench-digest-") as folder:
        stop = Path(folder) / "stop"
        beside = subprocess.Popen(  # noqa: S603 (commands written in this script, no shell)
            [PYTHON, str(BENCH / "inproc.py"), "digest", "--until-file", str(stop)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        step = run_step(
            [PYTHON, "manage.py", "send_reminders", "--no-deliver"],
            env,
            check=False,
            timeout=opts.step_timeout,
        )
        stop.touch()
        during, errors = beside.communicate(timeout=opts.step_timeout)
    result["sweep"] = {
        "value": round(step.seconds, 1) if step.ok else None,
        "errors": 0 if step.ok else 1,
        "output": step.stdout.strip() if step.ok else step.stderr[-2000:],
    }
    log(f"  sweep: {step.seconds:.1f} s ({result['sweep']['output'][-300:]})")
    if beside.returncode != 0:
        log(f"  digest beside the sweep failed: {errors.decode()[-2000:]}")
    grouped = run_step(
        [PYTHON, str(BENCH / "inproc.py"), "digest"], env, check=False, timeout=opts.step_timeout
    )
    if not (grouped.ok and step.ok and beside.returncode == 0):
        error = grouped.stderr[-2000:] or "the sweep or the digest beside it failed"
        for key in ("digest_seconds", "digest_max"):
            result[key] = {"value": None, "errors": 1, "error": error}
        log(f"  digest failed: {error}")
        return
    done = last_json(grouped.stdout)
    during_sweep = last_json(during.decode()) if during.strip() else {}
    result["digest_seconds"] = {"value": done["seconds"], "messages": done["messages"]}
    # Left ungrouped after the digest step is a failure too: a message nobody will send.
    result["digest_max"] = {
        "value": None if done["ungrouped"] else done["most_per_digest"],
        "most_per_digest": done["most_per_digest"],
        "errors": 1 if done["ungrouped"] else 0,
        "ungrouped": done["ungrouped"],
        "during_sweep": during_sweep,
    }
    log(f"  digest: {done['messages']:,} messages in {done['seconds']:.1f} s, at most "
        f"{done['most_per_digest']} per (sweep, channel, addressee), {done['ungrouped']} "
        f"left ungrouped; beside the sweep: {during_sweep}")  # fmt: skip


def queries_step(
    env: dict[str, str], representative: dict[str, Any], result: dict[str, Any]
) -> None:
    """The SQL queries of one request of each kind (bench/inproc.py queries)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        json.dump(representative, spec)
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
        log(f"  SQL queries per request: {result['queries']}")
    else:
        log(f"  counting queries failed: {step.stderr[-2000:]}")


def bench_size(size: int, url: str, opts: argparse.Namespace) -> dict[str, Any]:
    """Every chosen step on one size of database."""
    wanted = set(opts.only or STEPS)
    result: dict[str, Any] = {"cases": size, "database": database_name(url)}
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as exports:
        env = environment(url, Path(exports))
        if "generate" in wanted and not opts.skip_generate:
            generate(size, url, env, result)
        elif not database_exists(url):
            raise SystemExit(f"{database_name(url)} does not exist: run without --skip-generate")
        password = secrets.token_urlsafe(16)
        setup = prepare(size, url, env, password, result)
        serve_and_measure(env, setup, password, wanted, opts, result)
        if "replica" in wanted:
            replica_step(url, env, setup, opts, result)
        if "memory" in wanted and size == opts.cases:  # 100,000 requests: once is enough
            memory_step(env, setup, opts, result)
        if "export" in wanted:
            export_step(env, setup, opts, result)
        if "sweep" in wanted:
            sweep_step(env, opts, result)
        if "queries" in wanted:
            queries_step(env, representative_requests(setup), result)
    result["facts"]["loadavg_end"] = [round(value, 1) for value in os.getloadavg()]
    return result


# --- The command -------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
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
    parser.add_argument(
        "--load-seconds", type=float, default=60, help="the load test's length (Locust's -t)"
    )
    parser.add_argument(
        "--step-timeout", type=float, default=900, help="seconds before an export or sweep stops"
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=500,
        help="load users' pause between requests (Locust's wait_time; 0: back to back, "
        "which measures queueing)",
    )
    parser.add_argument(
        "--memory-requests",
        type=int,
        default=100_000,
        help="requests of the memory step (its RSS is read after the first 1,000 and the last)",
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
    return parser


def print_report(path: str) -> None:
    earlier = json.loads(Path(path).read_text(encoding="utf-8"))
    earlier["table"] = table(earlier)[0]
    print(markdown(earlier))
    print(f"\n{earlier['date']}, commit {earlier['commit']}, {earlier['machine']}")


def database_urls(args: argparse.ArgumentParser, opts: argparse.Namespace) -> dict[int, str]:
    """The database of each size; refuses a URL whose database name lacks "bench"."""
    base = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not base.startswith(("postgres://", "postgresql://")):
        args.error("DATABASE_URL must be a PostgreSQL URL")
    name = database_name(base)
    if "bench" not in name:
        args.error(
            f"the bench drops and recreates its databases: DATABASE_URL names {name!r}; "
            "use a dedicated database whose name contains 'bench' (e.g. tracker_bench)"
        )
    sizes = [opts.cases] if opts.no_small or opts.small == opts.cases else [opts.small, opts.cases]
    label = f"{opts.small // 1000}k" if opts.small % 1000 == 0 else str(opts.small)
    return {
        size: base if size == opts.cases else database_url(base, name + label) for size in sizes
    }


def write_results(results: dict[str, Any], opts: argparse.Namespace) -> None:
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


def main() -> None:
    args = parser()
    opts = args.parse_args()
    if opts.report:
        print_report(opts.report)
        return
    unknown = set(opts.only or []) - set(STEPS)
    if unknown:
        args.error(f"unknown steps: {', '.join(sorted(unknown))}")
    urls = database_urls(args, opts)
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
    for size, url in urls.items():
        results["sizes"][str(size)] = bench_size(size, url, opts)
    results["minutes"] = round((time.monotonic() - started) / 60, 1)
    write_results(results, opts)


if __name__ == "__main__":
    main()
