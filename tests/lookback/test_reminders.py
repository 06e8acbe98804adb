"""Re-check tasks remind their checker through the reminders' one sweep and ledger: due soon
and overdue, once per window however many sweeps run (concurrently too), never to the unit
whose close is re-checked, and no more once the task is decided."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from lookback import services
from reminders import selectors as reminder_selectors
from reminders import services as reminder_services
from reminders.models import Notification, Reminder, UnitWebhook
from tests.reminders.test_concurrency import at_once

from .conftest import close, in_days, start

pytestmark = pytest.mark.django_db

RECHECK_KINDS = {"recheck_due", "recheck_overdue"}


@pytest.fixture(autouse=True)
def _policy(settings):
    settings.REMINDER_DUE_SOON_DAYS = [7, 1]
    settings.REMINDER_OVERDUE_EVERY_DAYS = 7
    settings.REMINDER_ESCALATION_DAYS = 14
    settings.REMINDER_WORKING_DAYS = False
    settings.REMINDER_CHANNELS = ["in_app", "webhook"]


def rechecks() -> list[Reminder]:
    return list(Reminder.objects.filter(kind__in=RECHECK_KINDS).order_by("id"))


def test_the_checker_is_reminded_once_before_the_deadline(ledger):
    world = ledger.world
    UnitWebhook.objects.create(unit=world.unit_a, url="https://bot.example.org/hook")
    lookback = start(
        world.supervisor, world.supervisor, unit=world.unit_a.pk, size=2, deadline=in_days(5)
    )
    reminder_services.sweep()
    reminder_services.sweep()
    found = rechecks()
    assert len(found) == 2  # one per task, in-app only: no group bot, the unit is not told
    assert {(r.kind, r.recipient_id, r.channel) for r in found} == {
        ("recheck_due", world.supervisor.pk, "in_app")
    }
    assert {r.case_id for r in found} == set(lookback.drawn_ids)
    assert all(r.window.startswith("recheck-") for r in found)
    # Delivered though the cases are closed (a case's own reminders would be cancelled).
    reminder_services.deliver()
    assert {r.status for r in rechecks()} == {"sent"}
    note = Notification.objects.get(user=world.supervisor)
    assert {item["kind"] for item in note.items} == {"recheck_due"}
    assert {item["deadline"] for item in note.items} == {in_days(5).isoformat()}


def test_an_overdue_task_is_reminded_per_period(ledger):
    world = ledger.world
    start(world.supervisor, world.supervisor, size=1, deadline=in_days(0))
    reminder_services.sweep()  # due today: the last day's reminder
    later = timezone.now() + timedelta(days=1)
    with time_machine.travel(later, tick=False):
        reminder_services.sweep()
        reminder_services.sweep()
    with time_machine.travel(later + timedelta(days=7), tick=False):
        reminder_services.sweep()
    kinds = Counter(r.kind for r in rechecks())
    assert kinds == {"recheck_due": 1, "recheck_overdue": 2}


def test_a_decided_task_reminds_no_more(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1, deadline=in_days(1)).tasks.get()
    reminder_services.sweep()
    services.recheck_decide(actor=world.supervisor, task_id=task.pk, outcome="confirmed")
    reminder_services.deliver()  # the reminder made before the decision is not sent
    assert {r.status for r in rechecks()} == {"cancelled"}
    with time_machine.travel(timezone.now() + timedelta(days=3), tick=False):
        reminder_services.sweep()
    assert len(rechecks()) == 1


def test_a_task_whose_case_was_reopened_since_reminds_nobody(ledger):
    from cases import services as case_services

    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1, deadline=in_days(1)).tasks.get()
    case_services.case_transition(
        actor=world.supervisor, case_id=task.case_id, to="in_progress", note="另行重新整改"
    )
    reminder_services.sweep()
    with time_machine.travel(timezone.now() + timedelta(days=10), tick=False):
        reminder_services.sweep()
    assert rechecks() == []


def test_the_unit_never_sees_a_recheck_reminder(ledger):
    world = ledger.world
    start(
        world.supervisor,
        world.supervisor,
        unit=world.unit_a.pk,
        percentage=100,
        deadline=in_days(1),
    )
    reminder_services.sweep()
    assert rechecks()
    for who in ("inspector_a", "dept_supervisor", "api_reader"):
        visible = reminder_selectors.visible_reminders(getattr(world, who))
        assert not visible.filter(kind__in=RECHECK_KINDS).exists(), who
    seen = reminder_selectors.visible_reminders(world.supervisor)
    assert seen.filter(kind__in=RECHECK_KINDS).count() == len(rechecks())


def test_a_closed_case_without_a_task_is_not_reminded(ledger):
    world = ledger.world
    close(world, world.unit_a, deadline=in_days(1))
    reminder_services.sweep()
    assert not rechecks()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_sweeps_remind_each_task_once(ledger):
    world = ledger.world
    start(world.supervisor, world.supervisor, percentage=100, deadline=in_days(1))
    at_once(reminder_services.sweep, threads=4)
    at_once(reminder_services.sweep, threads=4)
    keys = Counter(
        Reminder.objects.filter(kind__in=RECHECK_KINDS).values_list(
            "case_id", "kind", "window", "recipient_id", "channel"
        )
    )
    assert len(keys) == 11 and set(keys.values()) == {1}
    at_once(reminder_services.deliver, threads=4)
    assert Notification.objects.filter(user=world.supervisor).count() == 1
    assert {r.status for r in rechecks()} == {"sent"}


def test_a_task_window_reads_as_its_deadline():
    from reminders.rules import describe_window

    assert describe_window("recheck-5/2026-12-07/d1") == describe_window("2026-12-07/d1")
    assert "2026-12-07" in describe_window("recheck-5/2026-12-07/o0")
