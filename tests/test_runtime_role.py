"""The runtime database role (`manage.py grant_runtime_role`): what web, worker and beat connect
as can run the app, and cannot rewrite history, empty a ledger or change who was sent what.

Needs PostgreSQL (roles and privileges); the role is created per test and dropped after it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from cases import services, tally
from cases.models import Case, CaseEvent, Evidence
from cases.record_guards import trigger_name
from reminders import services as reminders
from reminders.models import Delivery, Notification, Reminder
from tests.factories import World, add_evidence, days, drive_to

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="database roles are PostgreSQL's"
)

ROLE = f"tracker_runtime_test_{os.getpid()}"


def _create_role(name: str = ROLE) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" LOGIN NOSUPERUSER')


def _drop_role(name: str = ROLE) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DROP OWNED BY "{name}"')
        cursor.execute(f'DROP ROLE "{name}"')


@contextmanager
def as_runtime_role() -> Iterator[psycopg.Connection]:
    """A real connection to the test database, logged in as the runtime role."""
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        dbname=settings["NAME"],
        user=ROLE,
        autocommit=True,
    ) as conn:
        yield conn


def refused(conn: psycopg.Connection, sql: str, *params: object) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql, params or None)


def _follow_up_delivered(world: World) -> Case:
    case = world.case(world.unit_a)
    drive_to(case, "in_progress", world.supervisor)
    services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="请加快进度")
    reminders.deliver()
    return case


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_runtime_role_from_rewriting_history_and_ledgers(world: World) -> None:
    case = _follow_up_delivered(world)
    add_evidence(world.supervisor, case, "a.pdf")
    event = CaseEvent.objects.filter(case=case).latest("seq")
    reminder = Reminder.objects.filter(case=case).first()
    assert reminder is not None and reminder.delivery_id is not None
    history_trigger = trigger_name("cases.CaseEvent:append_only")
    _create_role()
    try:
        call_command("grant_runtime_role", ROLE, stdout=StringIO())
        call_command("grant_runtime_role", ROLE, stdout=StringIO())  # idempotent
        with as_runtime_role() as conn:
            # History: append-only, whatever the path.
            refused(conn, "UPDATE cases_caseevent SET note = 'x' WHERE id = %s", event.pk)
            refused(conn, "DELETE FROM cases_caseevent WHERE id = %s", event.pk)
            refused(conn, "TRUNCATE cases_caseevent")
            refused(conn, f"ALTER TABLE cases_caseevent DISABLE TRIGGER {history_trigger}")
            refused(conn, "ALTER TABLE cases_caseevent DISABLE TRIGGER ALL")
            refused(conn, f"DROP TRIGGER {history_trigger} ON cases_caseevent")
            refused(conn, "SET session_replication_role = replica")
            refused(conn, "UPDATE cases_evidence SET sha256 = 'x'")
            refused(conn, "DELETE FROM cases_evidence")
            refused(conn, "CREATE TABLE cases_forged (id int)")
            # Ledgers: delivery state may move, who/what/when may not; nothing is deleted.
            refused(conn, "UPDATE reminders_reminder SET recipient_id = %s", world.inspector_b.pk)
            refused(conn, "UPDATE reminders_reminder SET created_at = now()")
            refused(conn, "UPDATE reminders_delivery SET recipient_id = NULL")
            refused(conn, "UPDATE reminders_notification SET title = 'x'")
            refused(conn, "DELETE FROM reminders_reminder")
            refused(conn, "DELETE FROM reminders_delivery")
            refused(conn, "DELETE FROM reminders_notification")
            refused(conn, "TRUNCATE reminders_delivery")
            refused(conn, "DELETE FROM django_migrations")
            # A session that asks django-pgtrigger to skip the guards: the privileges hold.
            skip = ",".join([history_trigger, trigger_name("cases.RestrictedGrant:record_only"),
                             trigger_name("audit.AuditEntry:append_only")])  # fmt: skip
            conn.execute(f"SET pgtrigger.ignore = '{{{skip}}}'")
            refused(conn, "UPDATE cases_caseevent SET note = 'x' WHERE id = %s", event.pk)
            refused(conn, "DELETE FROM audit_auditentry")
            refused(conn, "UPDATE cases_restrictedgrant SET unit_id = unit_id")
            refused(conn, "DELETE FROM cases_restrictedgrant")
            conn.execute("RESET pgtrigger.ignore")
            conn.execute(
                "UPDATE reminders_reminder SET status = 'cancelled' WHERE id = %s", [reminder.pk]
            )
            conn.execute("UPDATE reminders_delivery SET attempts = attempts + 1")
            conn.execute("UPDATE reminders_notification SET read_at = now()")
            # An ordinary table is the app's to change.
            conn.execute("DELETE FROM django_session")
            rows = conn.execute("SELECT count(*) FROM cases_caseevent").fetchone()
            assert rows is not None and rows[0] == CaseEvent.objects.count()
        reminder.refresh_from_db()
        assert (reminder.status, reminder.recipient_id) == ("cancelled", world.inspector_a.pk)
        assert Notification.objects.exclude(read_at=None).exists()
    finally:
        _drop_role()


def test_it_refuses_a_role_that_is_missing_or_a_superuser(world: World) -> None:
    with pytest.raises(CommandError, match="No role"):
        call_command("grant_runtime_role", f"{ROLE}_missing", stdout=StringIO())
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{ROLE}_super" SUPERUSER')
    with pytest.raises(CommandError, match="superuser"):
        call_command("grant_runtime_role", f"{ROLE}_super", stdout=StringIO())


@contextmanager
def runtime_role_session() -> Iterator[None]:
    """This test's connection acts as the runtime role (its privileges, nothing more) until
    the block ends; the role and its grants go with the test's transaction."""
    _create_role()
    call_command("grant_runtime_role", ROLE, stdout=StringIO())
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{ROLE}"')
        try:
            yield
        finally:
            cursor.execute("RESET ROLE")


@pytest.mark.django_db
def test_the_app_works_as_the_runtime_role(world: World, settings) -> None:
    settings.REMINDER_CHANNELS = ["in_app", "email"]
    with runtime_role_session():
        case = services.case_create(
            actor=world.supervisor,
            inspection=world.inspection,
            title="窗口未进驻",
            responsible_unit=world.unit_a,
            deadline=days(1),
            checklist=["窗口是否运行"],
        )
        services.case_transition(
            actor=world.inspector_a, case_id=case.pk, to="in_progress", note="开始整改"
        )
        add_evidence(world.inspector_a, case, "a.pdf")
        services.case_extend_deadline(
            actor=world.supervisor, case_id=case.pk, deadline=days(2), reason="客观原因"
        )
        services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="请加快进度")
        reminders.sweep()
        report = reminders.deliver()
        assert report.sent >= 1
        notification = Notification.objects.filter(user=world.inspector_a).first()
        assert notification is not None
        reminders.notification_mark_read(user=world.inspector_a, notification_id=notification.pk)
        assert Delivery.objects.filter(status="sent").exists()
        today = tally.ensure_current()
        tally.compact()
        tally.ensure_snapshot(today - timedelta(days=1))
        services.case_transition(
            actor=world.inspector_a, case_id=case.pk, to="submitted", note="已整改"
        )
        points = list(case.checklist.values_list("pk", flat=True))
        services.case_transition(
            actor=world.supervisor, case_id=case.pk, to="completed", note="验收", confirm=points
        )
        tally.compact()
        call_command("verify_history", stdout=StringIO(), stderr=StringIO())
    assert Evidence.objects.filter(case=case).count() == 1
    assert CaseEvent.objects.filter(case=case).count() >= 6
