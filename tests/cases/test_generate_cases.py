"""`generate_cases`: deterministic synthetic scale data whose rows obey every invariant the
services maintain (counters, history, regions, paths, completion figures)."""

from __future__ import annotations

import multiprocessing
import os
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from io import StringIO
from time import sleep
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from cases.completion import completion_total
from cases.history_chain import EVENT_FIELDS, event_hash
from cases.models import Case, CaseEvent, CheckPoint, Inspection, Unit, User
from cases.workflow import DONE_STATES, MOVES, Role, Status
from tests.factories import World

pytestmark = [
    pytest.mark.django_db,
    # Tests run beside pytest-xdist's threads; the command forks its workers, which only
    # compute text (run as a command, it is single-threaded).
    pytest.mark.filterwarnings(
        "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"
    ),
]

TODAY = "2025-06-15"


@pytest.fixture(autouse=True)
def debug_on(settings: Any) -> None:
    """The debug mode `make test` gives commands (pytest-django turns it off for the tests):
    the bench mode is for test and scale databases."""
    settings.DEBUG = True


def run(seed: int, cases: int = 300, *extra: str) -> str:
    out = StringIO()
    call_command("generate_cases", "--cases", str(cases), "--seed", str(seed), *extra, stdout=out)
    return out.getvalue()


def root_of(seed: int) -> Unit:
    return Unit.objects.get(parent__isnull=True, name=f"合成省（种子{seed}）")


def cases_of(seed: int) -> Any:
    return Case.objects.filter(code__startswith=f"HC{seed}-")


def dump(seed: int) -> dict[str, Any]:
    """Everything a run wrote, ids replaced by names, codes and user names, the seed taken out
    of them (so that two seeds can be compared too)."""
    root = root_of(seed)

    def norm(text: str | None) -> str | None:
        if text is None:
            return None
        return (
            text.replace(root.name, "ROOT")
            .replace(f"HC{seed}-", "HC-")
            .replace(f"hc{seed}-", "hc-")
        )

    names: dict[int, str] = {}
    units = []
    for unit in Unit.objects.filter(path__startswith=root.path).order_by("path"):
        names[unit.pk] = f"{names.get(unit.parent_id, '')}/{unit.name}"
        units.append(
            (
                norm(names[unit.pk]),
                unit.level,
                unit.is_supervising_body,
                unit.is_responsible_unit,
                norm(names.get(unit.region_id)),
            )
        )
    users = {
        user.pk: norm(user.username)
        for user in User.objects.filter(username__startswith=f"hc{seed}-")
    }
    user_rows = sorted(
        (norm(u.username), u.full_name, norm(names[u.unit_id]), u.role, u.has_usable_password())
        for u in User.objects.filter(username__startswith=f"hc{seed}-")
    )
    inspections = sorted(
        (
            norm(i.code),
            i.name,
            i.kind,
            i.year,
            norm(names[i.issuing_unit_id]),
            norm(names[i.supervising_unit_id]),
            i.restricted,
            i.last_case_number,
            i.created_at,
        )
        for i in Inspection.objects.filter(code__startswith=f"HC{seed}-")
    )
    codes = dict(cases_of(seed).values_list("pk", "code"))
    cases = {}
    for c in cases_of(seed).select_related("inspection"):
        cases[norm(c.code)] = (
            c.title,
            c.description,
            norm(c.inspection.code),
            c.source,
            norm(codes.get(c.parent_id)),
            norm(names[c.responsible_unit_id]),
            users.get(c.owner_id),
            norm(names[c.supervising_unit_id]),
            norm(names.get(c.region_id)),
            c.deadline,
            c.original_deadline,
            c.measures,
            c.progress,
            c.method,
            c.is_key_problem,
            c.amount,
            c.status,
            c.items_total,
            c.items_done,
            c.created_at,
            c.updated_at,
            c.closed_at,
            c.overdue_at_close,
        )
    events: dict[str | None, list[tuple[Any, ...]]] = defaultdict(list)
    for e in CaseEvent.objects.filter(case_id__in=codes).order_by("created_at", "id"):
        events[norm(codes[e.case_id])].append(
            (
                e.kind,
                e.from_status,
                e.to_status,
                e.deadline,
                e.was_overdue,
                e.changes,
                e.note,
                users.get(e.actor_id),
                norm(names.get(e.actor_unit_id)),
                e.created_at,
            )
        )
    points: dict[str | None, list[tuple[Any, ...]]] = defaultdict(list)
    for p in CheckPoint.objects.filter(case_id__in=codes).order_by("case_id", "position"):
        points[norm(codes[p.case_id])].append(
            (p.text, p.position, p.confirmed, users.get(p.confirmed_by_id), p.confirmed_at)
        )
    return {
        "units": sorted(units),
        "users": user_rows,
        "inspections": inspections,
        "cases": cases,
        "events": dict(events),
        "checklists": dict(points),
    }


def once(seed: int, *extra: str) -> dict[str, Any]:
    """Generate and dump inside a savepoint that is then rolled back (history rows cannot be
    deleted on PostgreSQL), so the same seed can be generated again in the same test."""
    with transaction.atomic():
        run(seed, 300, "--today", TODAY, *extra)
        content = dump(seed)
        transaction.set_rollback(True)
    return content


def test_it_generates_the_same_content_for_a_seed_and_a_day_whatever_the_path():
    first = once(1)
    assert len(first["cases"]) == 300
    assert once(1) == first
    # Batches, and how rows are written, do not change what is written.
    assert once(1, "--batch-size", "37") == first
    if connection.vendor == "postgresql":
        # The bench mode writes the same rows, in-process or by workers, however many.
        assert once(1, "--bench") == first
        assert once(1, "--bench", "--jobs", "2") == first
        assert once(1, "--bench", "--jobs", "3", "--batch-size", "37") == first
    other = once(2)
    assert other != first
    assert other["cases"].keys() != first["cases"].keys() or any(
        other["cases"][code] != row for code, row in first["cases"].items()
    )


def test_it_refuses_a_seed_already_generated_and_writes_nothing():
    run(3, 50)
    units, cases, events = Unit.objects.count(), Case.objects.count(), CaseEvent.objects.count()
    with pytest.raises(CommandError, match="already exists"):
        run(3, 50)
    assert (Unit.objects.count(), Case.objects.count(), CaseEvent.objects.count()) == (
        units,
        cases,
        events,
    )
    run(4, 50)  # another seed lives beside it
    assert cases_of(4).count() == 50


@pytest.fixture
def generated(world: World) -> dict[str, Any]:
    """500 cases generated beside the factories' world (the tables are not empty)."""
    before = {unit.pk: (unit.path, unit.region_id) for unit in Unit.objects.all()}
    output = run(7, 500)
    return {"before": before, "output": output, "today": timezone.localdate()}


def test_it_leaves_existing_units_alone_and_reports_what_it_wrote(generated):
    for unit in Unit.objects.filter(pk__in=generated["before"]):
        assert (unit.path, unit.region_id) == generated["before"][unit.pk]
    assert "500 cases" in generated["output"]
    assert cases_of(7).count() == 500
    assert (
        User.objects.filter(username__startswith="hc7-").exclude(password__startswith="!").count()
        == 0
    )


def test_it_builds_a_province_with_consistent_paths_and_regions(generated):
    root = root_of(7)
    units = {u.pk: u for u in Unit.objects.filter(path__startswith=root.path)}
    assert root.level == Unit.Level.PROVINCE and root.path == f"/{root.pk}/"
    levels = defaultdict(int)
    for unit in units.values():
        levels[unit.level] += 1
        parent = units.get(unit.parent_id)
        if unit.parent_id is not None:
            assert unit.path == f"{parent.path}{unit.pk}/"
        if unit.level == Unit.Level.COUNTY:
            assert unit.region_id == unit.pk
        elif parent is None or parent.level in (Unit.Level.PROVINCE, Unit.Level.CITY):
            assert unit.region_id is None
        else:
            assert unit.region_id == parent.region_id
    assert levels[Unit.Level.CITY] == 11
    assert 99 <= levels[Unit.Level.COUNTY] <= 121
    commissions = [u for u in units.values() if u.is_supervising_body]
    assert len(commissions) == 1 + 11 + levels[Unit.Level.COUNTY]
    assert all(units[c.parent_id].level != Unit.Level.DEPARTMENT for c in commissions)


def test_it_keeps_counters_regions_and_supervision_consistent(generated):
    cases = list(cases_of(7).select_related("inspection", "responsible_unit"))
    children = defaultdict(list)
    for case in cases:
        if case.parent_id:
            children[case.parent_id].append(case)
    parents = [c for c in cases if c.parent_id is None]
    # About 10% at scale; 500 cases over 116 inspections leave most of them too few cases for
    # a problem with items (about 6% on average over seeds, 2.5% to 9%).
    assert 0.02 <= sum(1 for c in parents if children[c.pk]) / len(parents) <= 0.18
    for case in cases:
        items = children[case.pk]
        assert case.items_total == len(items)
        assert case.items_done == sum(1 for i in items if i.status in DONE_STATES)
        assert case.region_id == case.responsible_unit.region_id
        assert case.supervising_unit_id == case.inspection.supervising_unit_id
        if case.status == Status.COMPLETED and items:
            assert all(i.status in DONE_STATES for i in items)
    by_code = {c.code: c for c in cases}
    for case in cases:
        if case.parent_id:
            parent = by_code[case.code.rsplit("-", 1)[0]]
            assert parent.pk == case.parent_id
            assert parent.inspection_id == case.inspection_id
            assert case.created_at > parent.created_at
    for inspection in Inspection.objects.filter(code__startswith="HC7-"):
        assert inspection.last_case_number == sum(
            1 for c in parents if c.inspection_id == inspection.pk
        )
    assert {c.status for c in cases} == set(Status.values)
    today = generated["today"]
    assert any(c.status not in DONE_STATES and c.deadline < today for c in cases)
    assert any(c.status not in DONE_STATES and c.deadline >= today for c in cases)


def test_it_writes_a_history_that_leads_to_each_case_as_it_is(generated):
    today = generated["today"]
    start_of_today = timezone.make_aware(datetime.combine(today, time.min))
    cases = {c.pk: c for c in cases_of(7)}
    events = defaultdict(list)
    for event in CaseEvent.objects.filter(case_id__in=cases).order_by("created_at", "id"):
        events[event.case_id].append(event)
    assert 4.0 <= sum(len(rows) for rows in events.values()) / len(cases) <= 6.5
    kinds = {e.kind for rows in events.values() for e in rows}
    assert {"created", "transition", "rectification", "deadline"} <= kinds
    for case_id, case in cases.items():
        rows = events[case_id]
        created = rows[0]
        assert [e.kind for e in rows].count("created") == 1
        assert created.kind == "created" and created.to_status == Status.OPEN
        assert created.deadline == case.original_deadline
        assert created.created_at == case.created_at
        status, deadline = Status.OPEN, case.original_deadline
        last_move = None
        for event in rows[1:]:
            assert case.created_at < event.created_at < start_of_today <= timezone.now()
            if event.kind == "transition":
                assert event.from_status == status
                assert (event.from_status, event.to_status) in MOVES
                assert event.was_overdue == (deadline < timezone.localtime(event.created_at).date())
                assert event.deadline is None
                status, last_move = event.to_status, event
            elif event.kind == "deadline":
                assert status not in DONE_STATES
                assert event.changes == {"deadline": [str(deadline), str(event.deadline)]}
                deadline = event.deadline
            else:
                assert event.to_status == "" and event.deadline is None
                if event.kind == "rectification":
                    assert status not in DONE_STATES
        assert status == case.status
        assert deadline == case.deadline
        assert case.updated_at >= rows[-1].created_at
        if case.status in DONE_STATES:
            assert case.closed_at == last_move.created_at
            assert case.overdue_at_close == last_move.was_overdue
        else:
            assert case.closed_at is None and not case.overdue_at_close
        if case.parent_id and cases[case.parent_id].status == Status.COMPLETED:
            assert rows[-1].created_at < cases[case.parent_id].closed_at


def test_it_confirms_checklists_when_cases_are_closed(generated):
    points = list(CheckPoint.objects.filter(case__code__startswith="HC7-").select_related("case"))
    assert points
    for point in points:
        closes = CaseEvent.objects.filter(
            case=point.case, kind="transition", to_status=Status.COMPLETED
        ).order_by("created_at")
        if point.confirmed:
            # As the services do: a reopening resets the checklist, the next close confirms it.
            assert point.confirmed_at == closes.last().created_at
            assert point.confirmed_by.unit_id == point.case.supervising_unit_id
        else:
            assert not closes.exists()


def test_it_keeps_the_separation_of_duties(generated):
    """As cases.rules wants: the unit's moves (start, submit, escalate, resume) are its own
    people's (its owner's, or nobody named), and whoever closes or exempts a case is neither its
    latest submitter nor of its responsible unit."""
    unit_moves = {(a.value, b.value) for (a, b), m in MOVES.items() if Role.INSPECTOR in m.roles}
    events = (
        CaseEvent.objects.filter(case__code__startswith="HC7-", kind="transition")
        .select_related("case__responsible_unit", "actor__unit")
        .order_by("case_id", "seq")
    )
    submitter: dict[int, Any] = {}
    closes = 0
    for event in events:
        unit_path = event.case.responsible_unit.path
        if (event.from_status, event.to_status) in unit_moves:
            assert event.actor is None or event.actor.unit.path.startswith(unit_path)
            if event.to_status == Status.SUBMITTED:
                submitter[event.case_id] = event.actor_id
        elif event.to_status in (Status.COMPLETED, Status.EXEMPTED):
            closes += 1
            assert event.actor is not None and event.actor.role == Role.SUPERVISOR
            assert event.actor_id != submitter.get(event.case_id)
            assert not event.actor.unit.path.startswith(unit_path)
    assert closes > 100


def test_it_gives_completion_figures_that_match_a_count(generated):
    today = generated["today"]
    cases = list(cases_of(7))

    def expected(rows: list[Case], *, on: date) -> tuple[int, int, int, int]:
        done = [c for c in rows if c.status in DONE_STATES]
        return (
            len(rows),
            len(done),
            sum(1 for c in done if not c.overdue_at_close),
            sum(1 for c in rows if c.status not in DONE_STATES and c.deadline < on),
        )

    for level, rows in (
        ("problem", [c for c in cases if c.parent_id is None]),
        ("item", [c for c in cases if c.items_total == 0]),
    ):
        figures = completion_total(cases_of(7), level=level, today=today)
        assert (figures.total, figures.done, figures.on_time, figures.overdue) == expected(
            rows, on=today
        )
        # The whole history lies before today: as of yesterday evening, the same cases.
        yesterday = today - timedelta(days=1)
        then = completion_total(cases_of(7), level=level, as_of=yesterday)
        assert (then.total, then.done, then.on_time, then.overdue) == expected(rows, on=yesterday)


@pytest.mark.parametrize("mode", [[], ["--bench"]])
@pytest.mark.parametrize("where", ["writer", "generator"])
def test_it_writes_nothing_when_a_batch_fails(monkeypatch, where, mode):
    from synthetic import bench, drawing, writer
    from synthetic import run as generation

    if where == "writer":
        # The batch writer of the mode (COPY or bulk_create) fails a few batches in.
        target, name = (generation, "send") if mode else (writer.BulkWriter, "write")
        original = bench.send if mode else writer.BulkWriter.write
        calls = iter(range(1_000_000))

        def broken(*args: Any) -> Any:
            if next(calls) == 3:
                raise RuntimeError("boom")
            return original(*args)

        monkeypatch.setattr(target, name, broken)
    else:
        problem = drawing.Drawer.problem
        calls = iter(range(1_000_000))

        def sometimes(self: Any, *args: Any) -> None:
            if next(calls) == 120:
                raise RuntimeError("boom")
            problem(self, *args)

        monkeypatch.setattr(drawing.Drawer, "problem", sometimes)
    before = _schema() if connection.vendor == "postgresql" else None
    with pytest.raises(RuntimeError, match="boom"):
        run(8, 400, "--batch-size", "50", *mode)
    if before is not None:
        assert _schema() == before  # the indexes the bench mode set aside are back
    assert not Unit.objects.filter(name="合成省（种子8）").exists()
    assert not cases_of(8).exists()
    monkeypatch.undo()
    run(8, 100)  # the connection and the tables are as they were
    assert cases_of(8).count() == 100
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid = 'cases_caseevent'::regclass"
            )
            assert cursor.fetchone()[0] == 3


def _schema() -> list[tuple[Any, ...]]:
    """The case tables' constraints (with their state) and indexes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated "
            "FROM pg_constraint WHERE conrelid IN ('cases_case'::regclass, "
            "'cases_caseevent'::regclass, 'cases_checkpoint'::regclass) "
            "UNION ALL SELECT tablename, indexname, indexdef, true FROM pg_indexes "
            "WHERE tablename IN ('cases_case', 'cases_caseevent', 'cases_checkpoint') "
            "ORDER BY 1, 2"
        )
        return sorted(cursor.fetchall())


@pytest.fixture
def ddl_log() -> Any:
    """Every DDL statement run from now on in this database (an event trigger records it), as
    (tag, statement, transaction id)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE ddl_seen (tag text, query text, xact text)")
        cursor.execute(
            "CREATE FUNCTION pg_temp.note_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ "
            "BEGIN INSERT INTO ddl_seen VALUES "
            "(tg_tag, current_query(), pg_current_xact_id()::xid::text); END $$"
        )
        cursor.execute(
            "CREATE EVENT TRIGGER synthetic_ddl_seen ON ddl_command_start "
            "EXECUTE FUNCTION pg_temp.note_ddl()"
        )

    def seen() -> list[tuple[str, str, str]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT tag, query, xact FROM ddl_seen")
            return cursor.fetchall()

    yield seen
    with connection.cursor() as cursor:
        cursor.execute("DROP EVENT TRIGGER synthetic_ddl_seen")
        cursor.execute("DROP TABLE IF EXISTS synthetic_probe")  # committed by a transactional test


def _probe_ddl(ddl_log: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE synthetic_probe (id int)")  # the log can see DDL
    assert [tag for tag, *_ in ddl_log()] == ["CREATE TABLE"]


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="event triggers: PostgreSQL only")
@pytest.mark.parametrize(
    "mode", [[], ["--bench", "--keep-indexes"], ["--bench", "--jobs", "2", "--keep-indexes"]]
)
def test_it_never_changes_the_schema_unless_loading_an_empty_database(ddl_log, mode):
    """Into a database in use (it has cases), and in any mode but the bench mode into an empty
    one: no constraint, index or trigger of the live tables is dropped, disabled or rebuilt,
    not even for a moment within the load: no DDL statement runs at all."""
    run(20, 30)  # a database in use: it has cases
    before, triggers = _schema(), _trigger_states()
    assert len(before) > 20
    _probe_ddl(ddl_log)
    run(9, 1200, "--batch-size", "200", *mode)
    assert cases_of(9).count() == 1200
    assert [tag for tag, *_ in ddl_log()] == ["CREATE TABLE"]
    assert _schema() == before
    assert _trigger_states() == triggers


def _constraint_indexes() -> set[str]:
    """The indexes of the case tables that enforce something: primary keys, unique
    constraints, any unique index."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
            "WHERE x.indrelid IN ('cases_case'::regclass, 'cases_caseevent'::regclass, "
            "'cases_checkpoint'::regclass) AND (x.indisunique OR x.indisprimary "
            "OR EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid))"
        )
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="event triggers: PostgreSQL only")
@pytest.mark.django_db(transaction=True)  # the command's transaction is a real one
@pytest.mark.parametrize("mode", [["--bench"], ["--bench", "--jobs", "2"]])
def test_the_bench_mode_rebuilds_secondary_indexes_within_the_load(ddl_log, mode):
    """Into an empty database, the bench mode drops the case tables' secondary indexes and
    creates them again, and that is all the DDL it runs: no constraint is touched, and every
    statement runs in the transaction that writes the cases (so no other session can see the
    tables without their indexes). The schema ends as it began."""
    before, triggers, enforcing = _schema(), _trigger_states(), _constraint_indexes()
    assert {"cases_case_pkey", "cases_case_code_key", "cases_caseevent_pkey"} <= enforcing
    _probe_ddl(ddl_log)
    output = run(9, 1200, "--batch-size", "200", *mode)
    assert "indexes built" in output
    assert cases_of(9).count() == 1200
    _probe, *ddl = ddl_log()
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT xmin::text FROM cases_case")
        (load,) = cursor.fetchall()  # one transaction wrote every case
    assert {xact for _tag, _query, xact in ddl} == {load[0]} != {_probe[2]}
    dropped = [query.split()[-1].split(".")[-1] for tag, query, _ in ddl if tag == "DROP INDEX"]
    created = [query.split()[2].strip('"') for tag, query, _ in ddl if tag == "CREATE INDEX"]
    assert [tag for tag, *_ in ddl] == ["DROP INDEX"] * len(dropped) + ["CREATE INDEX"] * len(
        created
    )
    assert sorted(dropped) == sorted(created)
    assert {"case_search_grams", "event_case_time", "event_time"} <= set(dropped)
    assert not enforcing & set(dropped)
    assert _schema() == before
    assert _trigger_states() == triggers


def _trigger_states() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN "
            "('cases_case'::regclass, 'cases_caseevent'::regclass)"
        )
        return dict(cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY path: PostgreSQL only")
def test_the_bench_mode_leaves_the_roll_ups_counted():
    run(10, 200, "--bench")
    # The roll-ups were recounted in the load's transaction: they hold every case.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT SUM(p_open + p_in_progress + p_submitted + p_completed + "
            "p_escalated + p_exempted + i_open + i_in_progress + i_submitted + "
            "i_completed + i_escalated + i_exempted) FROM cases_completiontally"
        )
        counted = cursor.fetchone()[0]
    # Problems count at the problem level; items and problems without items at the other.
    assert (
        counted
        == Case.objects.count() + Case.objects.filter(parent__isnull=True, items_total=0).count()
    )


# --- worker processes ------------------------------------------------------------------------

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="COPY path (worker processes): PostgreSQL only"
)


def test_an_inspection_in_several_blocks_is_the_same_whatever_the_path(monkeypatch):
    """Blocks of an inspection are drawn from streams of their own: generated in-process or by
    workers, batched one way or another, the content is the same."""
    from synthetic import drawing

    monkeypatch.setattr(drawing, "BLOCK", 2)
    first = once(1)
    numbers = [row[7] for row in first["inspections"]]  # last_case_number
    assert max(numbers) > 2 * 2  # some inspections span three blocks or more
    assert sum(numbers) == sum(1 for case in first["cases"].values() if case[4] is None)
    assert once(1, "--batch-size", "7") == first
    if connection.vendor == "postgresql":
        assert once(1, "--bench", "--jobs", "2") == first
        assert once(1, "--bench", "--jobs", "2", "--batch-size", "1") == first


def test_case_ids_are_handed_out_from_the_reserved_runs_in_order():
    from synthetic.writer import CaseIds

    ids = CaseIds([(1, 3), (10, 12), (20, 20)])
    assert ids.take(2) == [(1, 2)]
    assert ids.take(3) == [(3, 3), (10, 11)]
    assert ids.take(0) == []
    assert ids.take(2) == [(12, 12), (20, 20)]
    with pytest.raises(IndexError):
        ids.take(1)


@pytest.mark.postgres
@postgres_only
def test_workers_write_cases_the_sequence_knows_and_chains_that_verify():
    output = run(11, 400, "--bench", "--jobs", "2", "--batch-size", "50")
    assert "400 cases" in output
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM cases_case_id_seq")
        (last_value,) = cursor.fetchone()
    assert last_value >= cases_of(11).order_by("-pk").values_list("pk", flat=True)[0]
    # The hash chains the workers computed verify, head and length included.
    out = StringIO()
    call_command("verify_history", stdout=out, stderr=StringIO())
    assert "events verified" in out.getvalue()
    assert not multiprocessing.active_children()


def _in_worker(action: Any) -> Any:
    """A replacement of `Generator.problem` that does `action()` on the third problem of the
    first inspection, in a worker process only (in the command's process nothing goes
    wrong: the failure can only come from a worker)."""
    from synthetic import drawing

    problem = drawing.Drawer.problem
    parent = os.getpid()

    def patched(self: Any, chunk: Any, feed: Any, number: int, *args: Any) -> None:
        if os.getpid() != parent and feed is self.feeds[0] and number == 3:
            action()
        problem(self, chunk, feed, number, *args)

    return patched


def _boom() -> None:
    raise RuntimeError("boom")


def _reach_the_database() -> None:
    Unit.objects.exists()


def _die() -> None:
    os._exit(3)


@pytest.mark.postgres
@postgres_only
@pytest.mark.parametrize(
    ("action", "message"),
    [
        (_boom, r"HC12-\S+ failed in a worker process: RuntimeError: boom\. Nothing was written"),
        (_reach_the_database, "a worker process must not use the database"),
        (_die, "died unexpectedly"),
    ],
)
def test_a_failure_in_a_worker_writes_nothing(monkeypatch, action, message):
    from synthetic import drawing

    monkeypatch.setattr(drawing.Drawer, "problem", _in_worker(action))
    with pytest.raises(CommandError, match=message):
        run(12, 1000, "--bench", "--jobs", "2", "--batch-size", "50")
    assert not multiprocessing.active_children()  # the workers are gone
    assert not Unit.objects.filter(name="合成省（种子12）").exists()
    assert not cases_of(12).exists()
    monkeypatch.undo()
    # The command's connection and transaction survived the workers; the tables are as they
    # were.
    run(12, 300, "--bench", "--jobs", "2")
    assert cases_of(12).count() == 300
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = 'cases_caseevent'::regclass"
        )
        assert cursor.fetchone()[0] == 3


def test_jobs_must_be_positive_and_go_with_the_bench_mode():
    with pytest.raises(CommandError, match="--jobs must be positive"):
        run(13, 10, "--bench", "--jobs", "0")
    with pytest.raises(CommandError, match="go with --bench"):
        run(13, 10, "--jobs", "2")
    with pytest.raises(CommandError, match="go with --bench"):
        run(13, 10, "--keep-indexes")
    assert not Unit.objects.filter(name="合成省（种子13）").exists()


# --- The bench mode is for scale and test databases --------------------------------------------


@pytest.mark.postgres
@postgres_only
def test_the_bench_mode_refuses_a_database_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    units, cases = Unit.objects.count(), Case.objects.count()
    with pytest.raises(CommandError, match=r"DJANGO_DEBUG is off.*Nothing was written.*--force"):
        run(14, 100, "--bench")
    assert (Unit.objects.count(), Case.objects.count()) == (units, cases)
    # The default mode writes as the services do: no refusal.
    run(15, 50)
    assert cases_of(15).count() == 50
    run(14, 100, "--bench", "--force", "--keep-indexes")  # there are cases: keep the indexes
    assert cases_of(14).count() == 100


def _fetch_one(database: Any, sql: str, params: Any = None) -> Any:
    with database.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@pytest.mark.postgres
@postgres_only
def test_the_bench_mode_refuses_a_database_with_cases_or_other_sessions():
    """Indexes are only set aside in a database no one uses yet: one with cases, or with
    another session connected, is refused (nothing written) unless --keep-indexes."""
    before = _schema()
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        other.ensure_connection()
        with pytest.raises(CommandError, match=r"1 other session.*Nothing was written"):
            run(18, 50, "--bench")
        (pid,) = _fetch_one(other, "SELECT pg_backend_pid()")
    finally:
        other.close()
    assert not Unit.objects.filter(name="合成省（种子18）").exists()
    for _ in range(100):  # its backend ends soon after
        _fetch_one(connection, "SELECT pg_stat_clear_snapshot()")
        if not _fetch_one(connection, "SELECT pid FROM pg_stat_activity WHERE pid = %s", [pid]):
            break
        sleep(0.05)
    run(17, 20)
    refused = r"without cases.*rows in cases_case.*Nothing was written.*--keep-indexes"
    with pytest.raises(CommandError, match=refused):
        run(18, 50, "--bench")
    assert not Unit.objects.filter(name="合成省（种子18）").exists()
    assert _schema() == before
    run(18, 50, "--bench", "--keep-indexes")
    assert cases_of(18).count() == 50


# --- The history is the services' ----------------------------------------------------------------


@pytest.mark.parametrize("mode", [[], ["--bench", "--jobs", "2"]])
def test_generated_history_verifies_and_is_sealed_as_the_services_seal(mode):
    if mode and connection.vendor != "postgresql":
        pytest.skip("bench mode: PostgreSQL only")
    run(16, 600, "--batch-size", "100", *mode)
    out = StringIO()
    call_command("verify_history", stdout=out, stderr=StringIO())
    events = CaseEvent.objects.filter(case__code__startswith="HC16-")
    assert f"600 cases, {events.count()} events verified" in out.getvalue()
    # Every seal is the one `append_event` would have made of the same row.
    rows = {}
    for event in events.order_by("case_id", "seq"):
        expected = event_hash(**{name: getattr(event, name) for name in EVENT_FIELDS}, evidence=())
        assert event.hash == expected
        rows[event.case_id] = event
    for case in cases_of(16):
        last = rows[case.pk]
        assert (case.history_head, case.history_length) == (last.hash, last.seq)
