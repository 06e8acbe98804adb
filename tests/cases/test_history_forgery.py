"""Forgeries of the case history by someone with the database's superuser but not the seal key.

Each forgery goes around the append-only trigger as an attacker would (ALTER TABLE … DISABLE
TRIGGER, or session_replication_role) and then recomputes every unkeyed column of the chain
(`seq`, `prev_hash`, `hash` of every later row, the case's `history_head` and
`history_length`, the case row's state) with the published algorithm and a key he has to guess.
`verify_history` exits 1 and names the case each time; a rollback that is consistent inside the
database is caught by the signed checkpoint taken before it (`checkpoint_history`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from cases import organisation, services
from cases.history_chain import (
    canonical_changes,
    date_text,
    evidence_text,
    moment_text,
    payload_text,
)
from cases.models import Case, CaseEvent
from cases.record_guards import trigger_name
from tests.factories import World, days, drive_to

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the forger goes around PostgreSQL's trigger"
    ),
]

Forger = Callable[[str, str], str]


def plain_sha256(prev: str, payload: str) -> str:
    return hashlib.sha256(f"{prev}\n{payload}".encode()).hexdigest()


def guessed_key(key: str) -> Forger:
    def forge(prev: str, payload: str) -> str:
        message = f"{prev}\n{payload}".encode()
        return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()

    return forge


FORGERS = {
    "sha256": plain_sha256,
    "empty key": guessed_key(""),
    "django secret key": guessed_key("insecure-dev-key-only-for-debug-mode"),
    "development seal key": guessed_key("insecure-development-seal-key"),
}


@pytest.fixture(autouse=True)
def _secret_seal_key(settings: Any) -> None:
    # The deployment's key: random, held outside the database, unknown to the forger.
    settings.HISTORY_SEAL_KEY = secrets.token_hex(32)


@pytest.fixture
def story(world: World) -> Case:
    """A case of six events ending in a submission, next to an untouched one."""
    case = world.case(world.unit_a, checklist=["窗口是否运行"])
    services.case_extend_deadline(
        actor=world.supervisor, case_id=case.pk, deadline=days(90), reason="客观原因"
    )
    services.case_update_rectification(
        actor=world.inspector_a, case_id=case.pk, progress="已完成大半"
    )
    services.case_assign(
        actor=world.supervisor, case_id=case.pk, responsible_unit=world.unit_a_child
    )
    drive_to(case, "submitted", world.supervisor)
    world.case(world.unit_b)
    assert CaseEvent.objects.filter(case=case).count() == 6
    return case


def verify_passes() -> str:
    out = StringIO()
    call_command("verify_history", stdout=out, stderr=StringIO())
    return out.getvalue()


def verify_names(case: Case, reason: str) -> str:
    """verify_history fails (exit status 1) and names `case` with `reason`."""
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_history", stdout=StringIO(), stderr=err)
    assert excinfo.value.returncode == 1
    assert f"case {case.pk}: {reason}" in f"{excinfo.value}\n{err.getvalue()}"
    return str(excinfo.value)


HISTORY_TRIGGER = trigger_name("cases.CaseEvent:append_only")


@contextmanager
def forger(how: str = "disable trigger") -> Iterator[Any]:
    """A superuser's cursor on which the append-only trigger does not fire."""
    with connection.cursor() as cursor:
        # (The test's own writes are still in its transaction: a forger's session has none.)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        if how == "disable trigger":
            cursor.execute(f"ALTER TABLE cases_caseevent DISABLE TRIGGER {HISTORY_TRIGGER}")
        else:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield cursor
        finally:
            if how == "disable trigger":
                cursor.execute(f"ALTER TABLE cases_caseevent ENABLE TRIGGER {HISTORY_TRIGGER}")
            else:
                cursor.execute("SET session_replication_role = origin")


EVENT_COLUMNS = (
    "id", "case_id", "seq", "prev_hash", "kind", "from_status", "to_status", "deadline",
    "was_overdue", "note", "actor_id", "actor_unit_id", "created_at", "changes", "hash",
)  # fmt: skip


def rechain(cursor: Any, case_id: int, forge: Forger) -> None:
    """Recompute every unkeyed column of one case's chain, as someone who knows the algorithm
    (the payload's layout is in the source) but not the key: seq, prev_hash, hash of every row,
    the case's head and length."""
    cursor.execute(
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM cases_caseevent "  # noqa: S608 (fixed columns)
        "WHERE case_id = %s ORDER BY seq, id",
        [case_id],
    )
    rows = [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    cursor.execute(
        "SELECT event_id, sha256 FROM cases_evidence WHERE case_id = %s AND event_id IS NOT NULL",
        [case_id],
    )
    files: dict[int, list[str]] = {}
    for event_id, sha256 in cursor.fetchall():
        files.setdefault(event_id, []).append(sha256)
    prev = ""
    for seq, row in enumerate(rows, start=1):
        changes = row["changes"]
        changes = json.loads(changes) if isinstance(changes, str) else changes
        payload = payload_text(
            case_id, seq, row["kind"], row["from_status"], row["to_status"],
            date_text(row["deadline"]), row["was_overdue"], row["note"], row["actor_id"],
            row["actor_unit_id"], moment_text(row["created_at"]),
            evidence_text(files.get(row["id"], ())), canonical_changes(changes),
        )  # fmt: skip
        seal = forge(prev, payload)
        cursor.execute(
            "UPDATE cases_caseevent SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [seq, prev, seal, row["id"]],
        )
        prev = seal
    cursor.execute(
        "UPDATE cases_case SET history_head = %s, history_length = %s WHERE id = %s",
        [prev, len(rows), case_id],
    )


def events_of(case: Case) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(case=case).order_by("seq"))


def test_it_passes_on_the_untouched_database(story: Case) -> None:
    call_command("checkpoint_history", stdout=StringIO())
    assert "History intact: 2 cases, 7 events verified" in verify_passes()


@pytest.mark.parametrize("algorithm", FORGERS)
def test_it_catches_an_edited_row_rechained_without_the_key(story: Case, algorithm: str) -> None:
    third = events_of(story)[2]
    with forger() as cursor:
        cursor.execute("UPDATE cases_caseevent SET note = '情况属实' WHERE id = %s", [third.pk])
        rechain(cursor, story.pk, FORGERS[algorithm])
    verify_names(story, "edited at event")


@pytest.mark.parametrize("algorithm", FORGERS)
def test_it_catches_a_backdated_row_rechained_without_the_key(story: Case, algorithm: str) -> None:
    last = events_of(story)[-1]
    with forger("replication role") as cursor:
        cursor.execute(
            "UPDATE cases_caseevent SET created_at = %s WHERE id = %s",
            [story.created_at + timedelta(seconds=1), last.pk],
        )
        rechain(cursor, story.pk, FORGERS[algorithm])
    verify_names(story, "edited at event")


@pytest.mark.parametrize("algorithm", FORGERS)
def test_it_catches_a_copied_row_inserted_without_the_key(story: Case, algorithm: str) -> None:
    """A copy of the case's move to "submitted", as if it had been submitted again."""
    last = events_of(story)[-1]
    with forger() as cursor:
        cursor.execute(
            "INSERT INTO cases_caseevent (case_id, kind, from_status, to_status, deadline, "
            "was_overdue, changes, note, actor_id, actor_unit_id, created_at, seq, prev_hash, "
            "hash) SELECT case_id, kind, from_status, to_status, deadline, was_overdue, "
            "changes, note, actor_id, actor_unit_id, %s, seq + 1, hash, hash "
            "FROM cases_caseevent WHERE id = %s",
            [timezone.now(), last.pk],
        )
        rechain(cursor, story.pk, FORGERS[algorithm])
    verify_names(story, "edited at event")


def test_it_catches_the_newest_row_deleted_and_the_case_rolled_back(story: Case) -> None:
    """Consistent inside the database (the remaining rows keep their genuine seals, the case's
    head and state are set back to them): the checkpoint taken before catches it."""
    call_command("checkpoint_history", stdout=StringIO())
    events = events_of(story)
    with forger() as cursor:
        # (The submission's notifications point at its history row: the forger deletes them
        # first.)
        cursor.execute("DELETE FROM reminders_reminder WHERE event_id = %s", [events[-1].pk])
        cursor.execute("DELETE FROM cases_caseevent WHERE id = %s", [events[-1].pk])
        cursor.execute(
            "UPDATE cases_case SET history_head = %s, history_length = %s, status = %s "
            "WHERE id = %s",
            [events[-2].hash, len(events) - 1, events[-1].from_status, story.pk],
        )
    message = verify_names(story, "rolled back")
    assert "the checkpoint recorded 6 events, 5 remain" in message


def test_it_catches_a_case_whose_rows_are_all_deleted_and_its_head_reset(story: Case) -> None:
    call_command("checkpoint_history", stdout=StringIO())
    with forger("replication role") as cursor:
        cursor.execute("DELETE FROM cases_caseevent WHERE case_id = %s", [story.pk])
        cursor.execute(
            "UPDATE cases_case SET history_head = '', history_length = 0 WHERE id = %s",
            [story.pk],
        )
    verify_names(story, "rolled back")


def test_it_catches_a_case_with_no_history_even_without_a_checkpoint(story: Case) -> None:
    with forger() as cursor:
        # (Its notifications point at its history rows: the forger deletes them first.)
        cursor.execute("DELETE FROM reminders_reminder WHERE case_id = %s", [story.pk])
        cursor.execute("DELETE FROM cases_caseevent WHERE case_id = %s", [story.pk])
        cursor.execute(
            "UPDATE cases_case SET history_head = '', history_length = 0 WHERE id = %s",
            [story.pk],
        )
    verify_names(story, "deleted (the case has no history at all)")


@pytest.mark.parametrize(
    ("column", "value"),
    [("status", "completed"), ("deadline", "2099-01-01"), ("responsible_unit_id", None)],
)
def test_it_catches_a_case_row_changed_without_its_history(
    story: Case, world: World, column: str, value: Any
) -> None:
    value = world.unit_b.pk if value is None else value
    Case.objects.filter(pk=story.pk).update(**{column.removesuffix("_id"): value})
    verify_names(story, f"state mismatch ({column} is")


def test_it_refuses_a_checkpoint_altered_outside_the_key(story: Case, settings: Any) -> None:
    call_command("checkpoint_history", stdout=StringIO())
    (path,) = list(settings.HISTORY_CHECKPOINT_DIR.iterdir())
    lines = path.read_text().splitlines(keepends=True)
    lines = [line for line in lines if not line.startswith(f"{story.pk} ")]
    path.write_text("".join(lines))
    with pytest.raises(CommandError, match=r"Checkpoint refused: .*signature does not match"):
        call_command("verify_history", stdout=StringIO(), stderr=StringIO())


def test_it_catches_the_audit_logs_newest_entries_deleted_after_a_checkpoint(
    story: Case, world: World
) -> None:
    # The audit log is checked with the history, against the same signed checkpoint.
    organisation.unit_update(
        unit=world.unit_a, name="甲县局（新）", is_supervising_body=False,
        is_responsible_unit=True, actor=world.admin,
    )  # fmt: skip
    call_command("checkpoint_history", stdout=StringIO())
    assert "History intact" in verify_passes()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM audit_auditentry")
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_history", stdout=StringIO(), stderr=err)
    assert excinfo.value.returncode == 1
    assert "Audit log broken" in str(excinfo.value)
    assert "checkpoint" in err.getvalue()
