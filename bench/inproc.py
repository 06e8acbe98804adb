"""The benchmark's steps that run inside Django, each in its own process (`bench/run.py` calls
them; they print one JSON object on stdout):

    python bench/inproc.py setup --password P         accounts, tokens and request samples
    python bench/inproc.py export --query Q            one ledger export job, run synchronously
    python bench/inproc.py queries --requests FILE     SQL queries per request (test client)
    python bench/inproc.py digest [--until-file F]     the digest step after the sweep, and
                                                       the most messages of one (sweep, channel,
                                                       addressee); with --until-file, group
                                                       again and again until F exists (a
                                                       delivery overlapping the sweep)
    python bench/inproc.py explain PATH [--auth session] [--user U] [--text]
                                                       EXPLAIN ANALYZE of the
                                                       slowest queries of one request

Settings come from the environment as for the server (DATABASE_URL, DJANGO_*).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")

import django  # noqa: E402

django.setup()

from common import NEXT_STATE  # noqa: E402 (bench/, this script's folder)
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from cases import selectors, tokens  # noqa: E402
from cases.dashboard import TREND_POINTS  # noqa: E402
from cases.models import Case, CaseEvent, User  # noqa: E402
from cases.tally import kept_days_in_order  # noqa: E402
from cases.workflow import Role, Status  # noqa: E402

SEED_PREFIX = "hc1-"  # generate_cases --seed 1
SUPERVISOR = "hc1-p-sup1"  # the provincial commission: sees every case
READER = "bench-reader"  # an API client of the provincial commission (read-only)
EXPORT_ROWS = 100_000
LOAD_CLIENTS = 64  # the largest closed-loop run's users (bench/run.py), each its own client
POOL_SIZE = 30  # cases per load client, disjoint across clients
# The search term classes' sample of cases, and terms per class.
SEARCH_SAMPLE = 20_000
SEARCH_PER_CLASS = 5
# The states the load clients move their cases from (bench/common.py: NEXT_STATE).
MOVABLE = list(NEXT_STATE)


_keys: dict[int, str] = {}


def token_of(user: User) -> str:
    # Keys are stored hashed: issue one per user and process, and remember it here.
    if user.pk not in _keys:
        _keys[user.pk] = tokens.token_issue(user=user, name="bench", replace=True).key
    return _keys[user.pk]


def export_query(user: User) -> tuple[str, int]:
    """A ledger filter selecting about EXPORT_ROWS cases (all of them when there are fewer):
    the deadlines up to the EXPORT_ROWS-th one."""
    cases = selectors.visible_cases(user)
    total = cases.count()
    if total <= EXPORT_ROWS:
        return "", total
    cutoff = cases.order_by("deadline").values_list("deadline", flat=True)[EXPORT_ROWS - 1]
    query = f"deadline_before={cutoff.isoformat()}"
    return query, cases.filter(deadline__lte=cutoff).count()


def load_clients(rng: random.Random) -> list[dict[str, Any]]:
    """LOAD_CLIENTS API clients, the generated inspectors in turn (a unit's moves are its own
    people's: cases.rules), each with a token and its own pool of its unit's cases."""
    users = list(
        User.objects.filter(username__startswith=SEED_PREFIX, role=Role.INSPECTOR)
        .select_related("unit")
        .order_by("username")
    )[:LOAD_CLIENTS]
    taken: set[int] = set()
    clients = []
    for index in range(LOAD_CLIENTS):
        user = users[index % len(users)]
        # No ORDER BY or LIMIT: one scan whatever the user's unit, sorted here.
        candidates = sorted(
            (pk, status)
            for pk, status in selectors.visible_cases(user)
            .filter(status__in=MOVABLE)
            .order_by()
            .values_list("id", "status")
            if pk not in taken
        )
        pool = rng.sample(candidates, min(POOL_SIZE, len(candidates)))
        taken.update(pk for pk, _status in pool)
        clients.append(
            {
                "user": user.username,
                "role": user.role,
                "token": token_of(user),
                "pool": [[pk, status] for pk, status in pool],
            }
        )
    return clients


def search_terms(rng: random.Random) -> dict[str, list[str]]:
    """Search terms by class, drawn from a sample of the generated text by how many cases
    contain them: the most common, the median and the rarest two-character words (pairs of
    Chinese characters) and single characters, fragments of case codes, and the words the
    round-two issue names."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT code, title || ' ' || description FROM cases_case "
            "TABLESAMPLE BERNOULLI (%s) REPEATABLE (1) LIMIT %s",
            [min(100.0, 100 * SEARCH_SAMPLE / max(Case.objects.count(), 1)), SEARCH_SAMPLE],
        )
        rows = cursor.fetchall()
    words: Counter[str] = Counter()
    chars: Counter[str] = Counter()
    for _code, text in rows:
        chinese = [c if "\u4e00" <= c <= "\u9fff" else " " for c in text]
        chars.update({c for c in chinese if c != " "})
        words.update({a + b for a, b in itertools.pairwise(chinese) if " " not in (a, b)})

    def by_frequency(counts: Counter[str]) -> dict[str, list[str]]:
        ranked = [term for term, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        middle = max(len(ranked) // 2 - SEARCH_PER_CLASS // 2, 0)
        return {
            "common": ranked[:SEARCH_PER_CLASS],
            "median": ranked[middle : middle + SEARCH_PER_CLASS],
            "rare": ranked[-SEARCH_PER_CLASS:],
        }

    codes = [code for code, _text in rows]
    fragments = []
    for code in rng.sample(codes, min(SEARCH_PER_CLASS, len(codes))):
        length = rng.randint(4, min(8, len(code)))
        start = rng.randint(0, len(code) - length)
        fragments.append(code[start : start + length])
    terms = {f"word_{key}": value for key, value in by_frequency(words).items()}
    terms.update({f"char_{key}": value for key, value in by_frequency(chars).items()})
    terms["code"] = fragments
    terms["named"] = ["土地", "扶贫", "资金", "采购", "审批"]
    return terms


def setup(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(1)  # noqa: S311 (sampling, not secrets)
    supervisor = User.objects.select_related("unit").get(username=SUPERVISOR)
    supervisor.set_password(args.password)
    supervisor.save(update_fields=["password"])
    reader, _created = User.objects.get_or_create(
        username=READER,
        defaults={"unit": supervisor.unit, "role": Role.API_READER, "full_name": "基准测试"},
    )
    visible = selectors.visible_cases(reader)
    by_inspection = (
        visible.order_by().values("inspection_id").annotate(n=Count("id")).filter(n__gt=0)
    )
    inspections = [row["inspection_id"] for row in by_inspection]
    by_unit = visible.order_by().values("responsible_unit_id").annotate(n=Count("id"))
    units = [row["responsible_unit_id"] for row in by_unit.filter(n__gte=5)]
    regions = list(
        visible.order_by()
        .filter(region__isnull=False)
        .values_list("region_id", flat=True)
        .distinct()
    )
    bounds = Case.objects.order_by("id").values_list("id", flat=True)
    low, high = bounds.first() or 0, bounds.last() or 0
    candidates = rng.sample(range(low, high + 1), min(3000, high - low + 1))
    detail_ids = list(visible.filter(id__in=candidates).values_list("id", flat=True)[:1000])
    rng.shuffle(detail_ids)
    query, rows = export_query(supervisor)
    today = timezone.localdate()
    return {
        "cases": Case.objects.count(),
        "events": CaseEvent.objects.count(),
        "today": today.isoformat(),
        # The past days beat builds first (yesterday, the trend's month ends): a reader asks
        # for these; a day not built yet answers 409 rather than being built by a request.
        "as_of": [day.isoformat() for day in kept_days_in_order(today)[: 1 + TREND_POINTS]],
        "supervisor": SUPERVISOR,
        "supervisor_token": token_of(supervisor),
        "reader_token": token_of(reader),
        "inspections": rng.sample(inspections, min(100, len(inspections))),
        "units": rng.sample(units, min(200, len(units))),
        "regions": rng.sample(regions, min(100, len(regions))),
        "detail_ids": detail_ids,
        "export_query": query,
        "export_rows": rows,
        "load_clients": load_clients(rng),
        "search_terms": search_terms(rng),
    }


def export(args: argparse.Namespace) -> dict[str, Any]:
    """What the worker does for a large export: claim the job, write the workbook, store it."""
    from ledgers.models import ExportJob, Job
    from ledgers.services import export_filename, export_job_run

    owner = User.objects.get(username=SUPERVISOR)
    job = ExportJob.objects.create(
        owner=owner,
        status=Job.Status.QUEUED,
        query=args.query,
        total=0,
        language="zh-hans",
        filename=export_filename(),
    )
    started = time.perf_counter()
    export_job_run(job_id=job.pk)
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    size = job.file.size if job.file else 0
    result = {
        "status": job.status,
        "rows": job.processed,
        "seconds": seconds,
        "bytes": size,
        "error": job.error,
    }
    if job.file:
        job.file.delete(save=False)
    job.delete()
    return result


def queries(args: argparse.Namespace) -> dict[str, Any]:
    """Run each request once in this process (after one warm-up request per kind of client)
    and count its SQL queries."""
    requests = json.loads(Path(args.requests).read_text(encoding="utf-8"))
    session = Client(raise_request_exception=False)
    session.force_login(User.objects.get(username=SUPERVISOR))
    token_clients: dict[str, Client] = {}

    def client_for(auth: str) -> Client:
        if auth == "session":
            return session
        if auth not in token_clients:
            token_clients[auth] = Client(
                raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {auth}"
            )
        return token_clients[auth]

    warmed: set[str] = set()
    out: dict[str, Any] = {}
    for key, spec in requests.items():
        client = client_for(spec["auth"])
        if spec["auth"] not in warmed:
            warmed.add(spec["auth"])
            client.get("/api/v1/units/?page_size=1" if spec["auth"] != "session" else "/cases/")
        body = spec.get("body")
        if body and body.get("to") == "@next":
            case_id = int(spec["path"].rstrip("/").split("/")[-2])
            status = Case.objects.values_list("status", flat=True).get(pk=case_id)
            body = {**body, "to": NEXT_STATE.get(status, Status.IN_PROGRESS.value)}
        with CaptureQueriesContext(connection) as captured:
            if spec["method"] == "POST":
                response = client.post(spec["path"], body, content_type="application/json")
            else:
                response = client.get(spec["path"])
        out[key] = {"queries": len(captured.captured_queries), "status": response.status_code}
    return out


def explain(args: argparse.Namespace) -> dict[str, Any]:
    """One request (GET, with a signed-in session or a token; the supervisor's and the
    reader's by default), then EXPLAIN ANALYZE of its slowest queries: what is slow."""
    if args.auth == "session":
        client = Client(raise_request_exception=False)
        client.force_login(User.objects.get(username=args.user or SUPERVISOR))
    else:
        token = token_of(User.objects.get(username=args.user or READER))
        client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token}")
    client.get(args.path)  # warm-up
    with CaptureQueriesContext(connection) as captured:
        response = client.get(args.path)
    slowest = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[: args.top]
    plans = []
    with connection.cursor() as cursor:
        for query in slowest:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            plans.append({"seconds": float(query["time"]), "sql": query["sql"], "plan": plan})
    return {
        "status": response.status_code,
        "queries": len(captured.captured_queries),
        "seconds": sum(float(q["time"]) for q in captured.captured_queries),
        "slowest": plans,
    }


def digest(args: argparse.Namespace) -> dict[str, Any]:
    from reminders.digest import group_new_reminders, most_messages_per_digest
    from reminders.models import DeliveryStatus, Reminder

    if args.until_file:
        made = rounds = 0
        while not Path(args.until_file).exists():
            made += group_new_reminders()
            rounds += 1
            time.sleep(0.5)
        return {"messages_during_sweep": made, "rounds": rounds}
    started = time.perf_counter()
    made = group_new_reminders()
    seconds = time.perf_counter() - started
    ungrouped = Reminder.objects.filter(delivery__isnull=True, status=DeliveryStatus.PENDING)
    return {
        "messages": made,
        "seconds": round(seconds, 1),
        "most_per_digest": most_messages_per_digest(),
        "ungrouped": ungrouped.count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    setup_parser = commands.add_parser("setup")
    setup_parser.add_argument("--password", required=True)
    export_parser = commands.add_parser("export")
    export_parser.add_argument("--query", default="")
    queries_parser = commands.add_parser("queries")
    queries_parser.add_argument("--requests", required=True)
    digest_parser = commands.add_parser("digest")
    digest_parser.add_argument("--until-file", default="")
    explain_parser = commands.add_parser("explain")
    explain_parser.add_argument("path")
    explain_parser.add_argument("--auth", choices=["session", "token"], default="token")
    explain_parser.add_argument("--user", help=f"default: {SUPERVISOR} (session), {READER}")
    explain_parser.add_argument("--top", type=int, default=3)
    explain_parser.add_argument("--text", action="store_true", help="plans as text, not JSON")
    args = parser.parse_args()
    handler = {"setup": setup, "export": export, "queries": queries, "explain": explain,
               "digest": digest}  # fmt: skip
    result = handler[args.command](args)
    if args.command == "explain" and args.text:
        print(f"{args.path}: {result['status']}, {result['queries']} queries, "
              f"{result['seconds']:.3f} s in SQL")  # fmt: skip
        for item in result["slowest"]:
            print(f"\n--- {item['seconds']:.3f} s\n{item['sql']}\n\n{item['plan']}")
        return
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
