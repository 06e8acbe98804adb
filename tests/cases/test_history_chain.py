"""The case history is tamper-evident: a hash chain per case, checked by `verify_history`.

The tampering below goes around the append-only trigger the way someone with a superuser SQL
prompt could (`session_replication_role = replica` disables ordinary triggers); the chain must
still give every change away.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import close_old_connections, connection, connections
from django.utils import timezone

from cases import checklist, history_chain, services
from cases.demo import load_demo
from cases.history_chain import FastChain, event_hash
from cases.models import Case, CaseEvent
from cases.record_guards import trigger_name
from tests.factories import World, add_evidence, days, drive_to

pytestmark = pytest.mark.django_db


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="tampering goes around the PostgreSQL trigger"
)


def verify(*args: str) -> str:
    out = StringIO()
    call_command("verify_history", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def verify_fails(*args: str) -> tuple[str, str]:
    """The CommandError's message and what the command wrote to stderr."""
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_history", *args, stdout=StringIO(), stderr=err)
    return str(excinfo.value), err.getvalue()


@contextmanager
def tampering() -> Iterator[Any]:
    """A cursor on which the append-only trigger does not fire (superuser only)."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            yield cursor
        finally:
            cursor.execute("SET session_replication_role = origin")


def events_of(case: Case) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(case=case).order_by("seq"))


@pytest.fixture
def story(world: World) -> Case:
    """A case with six events (created, note-less and noted moves, a deadline change, a
    follow-up), next to an untouched one."""
    case = world.case(world.unit_a, checklist=["窗口是否运行"])
    services.case_extend_deadline(
        actor=world.supervisor, case_id=case.pk, deadline=days(90), reason="客观原因"
    )
    drive_to(case, "submitted", world.supervisor)
    services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="请加快进度")
    services.case_update_rectification(
        actor=world.inspector_a, case_id=case.pk, progress="已完成大半"
    )
    world.case(world.unit_b)
    assert len(events_of(case)) == 6
    return case


# --- The chain as written ----------------------------------------------------------------------


def test_every_service_write_extends_its_cases_chain(world: World) -> None:
    case = world.case(world.unit_a, checklist=["要点一"])
    drive_to(case, "completed", world.supervisor)
    add_evidence(world.supervisor, case, "a.pdf")
    events = events_of(case)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == ""
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    for event in events:
        assert len(event.hash) == 64
        values = {name: getattr(event, name) for name in history_chain.EVENT_FIELDS}
        files = [evidence.sha256 for evidence in event.evidence.all()]
        assert event_hash(**values, evidence=files) == event.hash
        assert (event.kind == "evidence") == bool(files)
    case.refresh_from_db()
    assert (case.history_head, case.history_length) == (events[-1].hash, len(events))
    assert f"History intact: 1 cases, {len(events)} events verified" in verify()


def test_the_hash_covers_every_field_of_the_content() -> None:
    base: dict[str, Any] = {
        "case_id": 7,
        "seq": 2,
        "prev_hash": "a" * 64,
        "kind": "transition",
        "from_status": "open",
        "to_status": "in_progress",
        "deadline": date(2025, 6, 30),
        "was_overdue": False,
        "note": "说明",
        "actor_id": 3,
        "actor_unit_id": 4,
        "created_at": datetime(2025, 6, 1, 2, 3, 4, 5, tzinfo=UTC),
        "changes": {"status": ["open", "in_progress"]},
    }
    other = {
        "case_id": 8,
        "seq": 3,
        "prev_hash": "b" * 64,
        "kind": "edit",
        "from_status": "",
        "to_status": "",
        "deadline": None,
        "was_overdue": True,
        "note": "说明 ",
        "actor_id": None,
        "actor_unit_id": 5,
        "created_at": datetime(2025, 6, 1, 2, 3, 4, 6, tzinfo=UTC),
        "changes": {"status": ["open", "submitted"]},
    }
    digest = event_hash(**base)
    for name, value in other.items():
        assert event_hash(**{**base, name: value}) != digest, name
    # The same moment in another zone, and the same changes in another key order, are the same.
    shanghai = base["created_at"].astimezone(timezone.get_default_timezone())
    assert event_hash(**{**base, "created_at": shanghai}) == digest
    reordered = {"b": 1.0, "a": [{"y": 2, "x": 1}]}
    assert event_hash(**{**base, "changes": reordered}) == event_hash(
        **{**base, "changes": {"a": [{"x": 1, "y": 2}], "b": 1}}
    )


@pytest.mark.parametrize(
    ("note", "changes"),
    [
        ("", "{}"),
        (
            '引号"和\\反斜杠\n换行\t制表\u2028',
            '{"progress": ["旧", "新\\n"], "measures": ["", "x"]}',
        ),
        ("emoji 🎯", '{"deadline": ["2025-01-01", "2025-03-01"], "n": 2.0, "z": [1.5, null]}'),
    ],
)
def test_the_bulk_loaders_hash_is_the_same_as_the_services(note: str, changes: str) -> None:
    import json

    chain = FastChain()
    moment = datetime(2025, 6, 1, 2, 3, 4, tzinfo=UTC)
    for deadline, actor in ((None, None), (date(2025, 9, 1), 12)):
        fast = chain.digest(
            5, 1, "", "rectification", "", "in_progress", deadline and deadline.isoformat(),
            True, note, actor, 9, "2025-06-01T02:03:04.000000Z", changes,
        )  # fmt: skip
        slow = event_hash(
            case_id=5, seq=1, prev_hash="", kind="rectification", from_status="",
            to_status="in_progress", deadline=deadline, was_overdue=True, note=note,
            actor_id=actor, actor_unit_id=9, created_at=moment, changes=json.loads(changes),
        )  # fmt: skip
        assert fast == slow


# --- Tampering, each detected ------------------------------------------------------------------


@postgres_only
def test_an_intact_history_verifies(story: Case) -> None:
    out = verify()
    assert "History intact: 2 cases, 7 events verified" in out


@postgres_only
def test_it_detects_an_edited_row(story: Case) -> None:
    third = events_of(story)[2]
    with tampering() as cursor:
        cursor.execute("UPDATE cases_caseevent SET note = %s WHERE id = %s", ["改过", third.pk])
    message, err = verify_fails()
    assert f"case {story.pk}: edited at event {third.pk}" in message
    assert "#3 does not match its seal" in err
    assert "broken in 1 of 2 cases" in message


@postgres_only
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("kind", "edit"),
        ("to_status", "completed"),
        ("deadline", date(2099, 1, 1)),
        ("was_overdue", True),
        ("changes", '{"status": ["open", "completed"]}'),
        ("actor_id", None),
        ("actor_unit_id", None),
        ("created_at", datetime(2020, 1, 1, tzinfo=UTC)),
    ],
)
def test_it_detects_an_edit_of_any_column(story: Case, column: str, value: Any) -> None:
    second = events_of(story)[1]
    with tampering() as cursor:
        sql = f"UPDATE cases_caseevent SET {column} = %s WHERE id = %s"  # noqa: S608 (column names from the test's own parameters)
        cursor.execute(sql, [value, second.pk])
    message, _ = verify_fails()
    assert f"case {story.pk}: edited at event {second.pk}" in message


@postgres_only
def test_it_detects_a_row_rewritten_with_a_fresh_hash(story: Case) -> None:
    """Whoever knows the algorithm can rehash the row they edit, not the next row's link."""
    third, fourth = events_of(story)[2:4]
    values = {name: getattr(third, name) for name in history_chain.EVENT_FIELDS}
    forged = event_hash(**{**values, "note": "改过"})
    with tampering() as cursor:
        cursor.execute(
            "UPDATE cases_caseevent SET note = %s, hash = %s WHERE id = %s",
            ["改过", forged, third.pk],
        )
    message, _ = verify_fails()
    assert f"case {story.pk}: edited at event {fourth.pk}" in message
    assert "names a predecessor that no longer matches #3" in message


@postgres_only
@pytest.mark.parametrize(("index", "missing"), [(0, "#1"), (2, "#3")])
def test_it_detects_a_deleted_row(story: Case, index: int, missing: str) -> None:
    events = events_of(story)
    with tampering() as cursor:
        cursor.execute("DELETE FROM cases_caseevent WHERE id = %s", [events[index].pk])
    message, _ = verify_fails()
    assert f"case {story.pk}: deleted at event {events[index + 1].pk}" in message
    assert f"event {missing} missing" in message


@postgres_only
def test_it_detects_a_deleted_last_row(story: Case) -> None:
    last = events_of(story)[-1]
    with tampering() as cursor:
        cursor.execute("DELETE FROM cases_caseevent WHERE id = %s", [last.pk])
    message, _ = verify_fails()
    assert f"case {story.pk}: deleted (the case records 6 events, event #6 missing)" in message


@postgres_only
def test_it_detects_a_case_whose_whole_history_is_gone(world: World) -> None:
    case = world.case(world.unit_a)
    drive_to(case, "submitted", world.supervisor)
    with tampering() as cursor:
        # (Its notifications point at its history rows: the tamperer deletes them first, or the
        # foreign key from reminders_reminder.event_id is violated.)
        cursor.execute("DELETE FROM reminders_reminder WHERE case_id = %s", [case.pk])
        cursor.execute("DELETE FROM cases_caseevent WHERE case_id = %s", [case.pk])
    message, _ = verify_fails()
    assert f"case {case.pk}: deleted (the case records 3 events, event #1–#3 missing)" in message


@postgres_only
def test_it_detects_reordered_rows(story: Case) -> None:
    second, third = events_of(story)[1:3]
    with tampering() as cursor:
        cursor.execute(
            "UPDATE cases_caseevent SET seq = CASE id WHEN %s THEN %s ELSE %s END "
            "WHERE id IN (%s, %s)",
            [second.pk, third.seq, second.seq, second.pk, third.pk],
        )
    message, _ = verify_fails()
    assert f"case {story.pk}: reordered at event {third.pk}" in message
    assert "names another event of the case as its predecessor" in message


@postgres_only
def test_it_detects_swapped_times(story: Case) -> None:
    second, third = events_of(story)[1:3]
    with tampering() as cursor:
        cursor.execute(
            "UPDATE cases_caseevent SET created_at = CASE id WHEN %s THEN %s ELSE %s END "
            "WHERE id IN (%s, %s)",
            [second.pk, third.created_at, second.created_at, second.pk, third.pk],
        )
    message, _ = verify_fails()
    assert f"case {story.pk}: edited at event {second.pk}" in message


@postgres_only
def test_it_detects_an_edited_head(story: Case) -> None:
    Case.objects.filter(pk=story.pk).update(history_head="0" * 64)
    message, _ = verify_fails()
    assert f"case {story.pk}: head mismatch (the last event is not the case's head)" in message


@postgres_only
def test_it_detects_a_row_slipped_in_after_the_head(story: Case) -> None:
    """INSERT is allowed by the trigger: a row added without the services, even one hashed
    correctly, is still found."""
    last = events_of(story)[-1]
    moment = timezone.now()
    forged = event_hash(
        case_id=story.pk, seq=last.seq + 1, prev_hash=last.hash, kind="follow_up",
        from_status="", to_status="", deadline=None, was_overdue=False, note="伪造",
        actor_id=None, actor_unit_id=None, created_at=moment, changes={},
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO cases_caseevent (case_id, kind, from_status, to_status, was_overdue, "
            "changes, note, created_at, seq, prev_hash, hash) "
            "VALUES (%s, 'follow_up', '', '', false, '{}', '伪造', %s, %s, %s, %s)",
            [story.pk, moment, last.seq + 1, last.hash, forged],
        )
    message, _ = verify_fails()
    assert f"case {story.pk}: head mismatch (the case records 6 events, 7 found)" in message


@postgres_only
def test_it_detects_a_row_moved_to_another_case(story: Case, world: World) -> None:
    other = world.case(world.unit_a)
    moved = events_of(story)[3]
    with tampering() as cursor:
        cursor.execute(
            "UPDATE cases_caseevent SET case_id = %s WHERE id = %s", [other.pk, moved.pk]
        )
    message, err = verify_fails()
    assert "broken in 2 of 3 cases" in message
    assert f"case {story.pk}: deleted at event" in err
    assert f"case {other.pk}: deleted at event {moved.pk} (event #2–#3 missing before #4)" in err


@postgres_only
def test_it_verifies_one_case_on_request(story: Case, world: World) -> None:
    other = Case.objects.exclude(pk=story.pk).get()
    with tampering() as cursor:
        cursor.execute("DELETE FROM cases_caseevent WHERE id = %s", [events_of(story)[2].pk])
    assert "1 cases, 1 events verified" in verify("--case", str(other.pk))
    message, _ = verify_fails("--case", str(story.pk))
    assert f"case {story.pk}: deleted" in message
    with pytest.raises(CommandError, match="No case with id 0"):
        call_command("verify_history", "--case", "0", stdout=StringIO())


@postgres_only
def test_it_reads_in_batches_and_still_sees_every_case(story: Case, world: World) -> None:
    for _ in range(5):
        world.case(world.unit_b)
    assert "7 cases, 12 events verified" in verify("--batch-size", "2")
    with tampering() as cursor:
        cursor.execute("DELETE FROM cases_caseevent WHERE id = %s", [events_of(story)[-1].pk])
    message, _ = verify_fails("--batch-size", "3")
    assert "broken in 1 of 7 cases" in message


# --- Whole loads verify clean ------------------------------------------------------------------


def test_the_demo_verifies_clean() -> None:
    load_demo()
    assert CaseEvent.objects.count() > 100
    out = verify()
    assert f"{Case.objects.count()} cases, {CaseEvent.objects.count()} events verified" in out


@pytest.mark.parametrize("extra", [[], ["--bench"]])
def test_generated_cases_verify_clean(extra: list[str], settings: Any) -> None:
    settings.DEBUG = True  # as `make test` runs commands: the bench mode is for test databases
    cases = "2000" if extra else "400"
    call_command(
        "generate_cases", "--cases", cases, "--seed", "5", "--today", "2025-06-15", *extra,
        stdout=StringIO(),
    )  # fmt: skip
    assert Case.objects.count() == int(cases)
    out = verify()
    assert f"{cases} cases, {CaseEvent.objects.count()} events verified" in out
    head = Case.objects.filter(items_total=0).order_by("pk").first()
    assert head is not None
    last = CaseEvent.objects.filter(case=head).order_by("-seq").first()
    assert last is not None and (head.history_head, head.history_length) == (last.hash, last.seq)


@postgres_only
@pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"
)
def test_generated_cases_of_the_bench_mode_verify_and_an_edit_is_caught(settings: Any) -> None:
    settings.DEBUG = True
    call_command(
        "generate_cases", "--cases", "300", "--seed", "6", "--today", "2025-06-15",
        "--bench", "--jobs", "2", stdout=StringIO(),
    )  # fmt: skip
    assert "300 cases" in verify()
    with tampering() as cursor:
        cursor.execute(
            "UPDATE cases_caseevent SET note = note || '!' WHERE id = "
            "(SELECT min(id) FROM cases_caseevent WHERE kind = 'transition')"
        )
    message, _ = verify_fails()
    assert "broken in 1 of 300 cases" in message and "edited" in message


# --- The migration chains existing history -----------------------------------------------------


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_history_written_before_it(world: World) -> None:
    """Rows from before the chain (seq 0, no hashes, no head) are chained in timeline order."""
    from importlib import import_module

    migration = import_module("cases.migrations.0005_history_chain")
    first = world.case(world.unit_a)
    drive_to(first, "completed", world.supervisor)
    second = world.case(world.unit_b)
    services.case_follow_up(actor=world.supervisor, case_id=second.pk, note="督办")
    with tampering() as cursor:
        cursor.execute("UPDATE cases_caseevent SET seq = 0, prev_hash = '', hash = ''")
        cursor.execute("UPDATE cases_case SET history_head = '', history_length = 0")
    verify_fails()
    # The migration ran beside the hand-written trigger that a later one replaced by today's:
    # that one is put back for it (it disables it by name), today's is off meanwhile.
    triggers = import_module("cases.migrations.0011_triggers_declared_in_models")
    today = trigger_name("cases.CaseEvent:append_only")
    with connection.schema_editor() as editor:
        editor.execute(f"ALTER TABLE cases_caseevent DISABLE TRIGGER {today}")
        triggers.restore_hand_written(apps, editor)
        migration.chain_existing(apps, editor)
        triggers.drop_hand_written(apps, editor)
        editor.execute(f"ALTER TABLE cases_caseevent ENABLE TRIGGER {today}")
    # Chained in the unkeyed form of version 1: refused until the owner seals it.
    message, _ = verify_fails()
    assert f"case {first.pk}: unsealed at event" in message and "seal_history" in message
    call_command("seal_history", stdout=StringIO())
    assert "2 cases, 6 events verified" in verify()
    assert [e.kind for e in events_of(first)] == ["created"] + ["transition"] * 3
    # The trigger is back on.
    with pytest.raises(Exception, match="append-only"):
        CaseEvent.objects.filter(case=first).update(note="x")


# --- Concurrency: one chain per case -----------------------------------------------------------


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_every_chain_intact(world: World) -> None:
    cases = [world.case(world.unit_a), world.case(world.unit_b)]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def write(case: Case, n: int) -> None:
        try:
            start.wait()
            for i in range(6):
                checklist.checkpoint_add(
                    actor=world.supervisor, case_id=case.pk, text=f"要点{n}-{i}"
                )
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            close_old_connections()
            connections.close_all()

    threads = [threading.Thread(target=write, args=(case, n)) for case in cases for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for case in cases:
        assert [e.seq for e in events_of(case)] == list(range(1, 14))
    assert "2 cases, 26 events verified" in verify()


def test_a_write_dated_before_the_head_is_refused(world: World) -> None:
    """Timestamps never go back along a chain (`verify_history` takes that for a forgery), so
    a loader cannot slip a back-dated row after the head, even one dated after the case row's
    last change (a follow-up leaves the case row as it is)."""
    now = timezone.now()
    case = world.case(world.unit_a, at=now - timedelta(days=3))
    services.case_follow_up(
        actor=world.supervisor, case_id=case.pk, note="督办", at=now - timedelta(days=1)
    )
    earlier = now - timedelta(days=2)
    with pytest.raises(services.InvalidInput, match="早于该问题的最近一条记录"):
        services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="补录", at=earlier)
    assert [e.kind for e in events_of(case)] == ["created", "follow_up"]
    assert "2 events verified" in verify("--case", str(case.pk))


def test_it_reports_a_row_dated_in_the_future(world: World) -> None:
    case = world.case(world.unit_a)
    later = timezone.now() + timedelta(days=1)
    services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="预录", at=later)
    message, _ = verify_fails("--case", str(case.pk))
    assert f"case {case.pk}: time out of order at event" in message
    assert "#2 is dated in the future" in message


def test_the_bulk_sealer_seals_as_the_one_seal_does(settings):
    """`sealing.Sealer` (the bench loader's) gives `sealing.seal`'s seal for the same record,
    and a changed key changes both."""
    from cases.sealing import Sealer, seal

    records = [("", "第一条"), ("a" * 64, '{"to": "in_progress"}'), ("b" * 64, "")]
    sealer = Sealer()
    assert [sealer.seal(prev, body) for prev, body in records] == [
        seal(prev, body) for prev, body in records
    ]
    before = seal(*records[1])
    settings.HISTORY_SEAL_KEY = "another-key-for-this-test-only-0123456789"
    assert Sealer().seal(*records[1]) == seal(*records[1]) != before
    assert sealer.seal(*records[1]) == before  # a Sealer keeps the key it was made with
