"""A digest is one message per recipient per channel per sweep, at any scale: a sweep larger
than the old group size (2,000 reminders), and a delivery running in the middle of the sweep
on its own connection, still make one message per recipient and channel."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections

from cases.models import Case
from reminders import digest, services
from reminders.models import Delivery, Reminder, SweepRun

from .conftest import TODAY

ROOT = Path(__file__).resolve().parents[2]
OLD_GROUP_SIZE = 2000


def clone_cases(case: Case, count: int) -> None:
    """`count` more open cases like `case` (bulk: the sweep only reads their columns)."""
    copies = []
    for index in range(count):
        copy = Case.objects.get(pk=case.pk)
        copy.pk = None
        copy.code = f"{case.code}-{index}"
        copies.append(copy)
    Case.objects.bulk_create(copies, batch_size=500)


def in_another_connection(work: Any) -> Any:
    """Run `work` in a thread with its own database connection, and wait for it."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    if errors:
        raise errors[0]
    return result[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two real connections")
def test_it_makes_one_message_per_recipient_per_channel_per_sweep_at_scale(
    people, clock, settings, monkeypatch
):
    settings.REMINDER_CHANNELS = ["email", "in_app"]
    world = people
    first = world.case(world.unit_b, deadline=TODAY + timedelta(days=1))
    clone_cases(first, 1100)  # 1,101 cases x 2 channels for inspector_b: 2,202 reminders
    during: list[Any] = []
    step = services._sweep_step

    def step_then_deliver(*args: Any, **kwargs: Any) -> bool:
        written = step(*args, **kwargs)
        if not during:  # after the first chunk has committed, a delivery runs to its end
            during.append(in_another_connection(services.deliver))
        return written

    monkeypatch.setattr(services, "_sweep_step", step_then_deliver)
    report = services.sweep()
    assert report.reminders == 2 * 1101 > OLD_GROUP_SIZE
    assert during[0].messages == 0  # the sweep was still running: nothing grouped yet
    assert Reminder.objects.filter(sweep__isnull=False).count() == 2202
    services.deliver()
    messages = Counter(Delivery.objects.values_list("recipient_id", "channel", "sweep_id"))
    assert set(messages.values()) == {1}
    assert set(messages) == {
        (world.inspector_b.pk, "email", SweepRun.objects.get().pk),
        (world.inspector_b.pk, "in_app", SweepRun.objects.get().pk),
    }
    assert not Reminder.objects.filter(delivery__isnull=True).exists()
    assert digest.most_messages_per_digest() == 1


@pytest.mark.django_db
def test_it_groups_a_dead_sweep_and_stops_it_if_it_wakes(people, clock, settings):
    world = people
    world.case(world.unit_a, deadline=TODAY + timedelta(days=1))
    services.sweep()
    run = SweepRun.objects.get()
    # A second run, still "running" (no finish), its heartbeat older than the lease.
    dead = SweepRun.objects.create()
    Reminder.objects.update(sweep=dead)
    assert services.group_new_reminders() == 0  # running: not yet
    SweepRun.objects.filter(pk=dead.pk).update(
        beat_at=dead.beat_at - timedelta(seconds=settings.REMINDER_LEASE_SECONDS + 1)
    )
    made = services.group_new_reminders()
    assert made == Delivery.objects.filter(sweep=dead).count() > 0
    dead.refresh_from_db()
    assert dead.finished_at is not None
    assert not digest.sweep_step_begin(dead)  # it would write nothing more
    assert digest.sweep_step_begin(run) is False  # the first one finished normally
    assert digest.most_messages_per_digest() == 1


@pytest.mark.django_db
def test_it_groups_event_reminders_as_they_come(people, clock):
    world = people
    case = world.case(world.unit_a, deadline=TODAY + timedelta(days=30))
    services.sweep()
    assert not Reminder.objects.exists()
    from cases import services as case_services

    case_services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="请尽快整改")
    assert Reminder.objects.filter(sweep__isnull=True).exists()
    made = services.group_new_reminders()
    assert made == Delivery.objects.filter(sweep__isnull=True).count() > 0
    keys = Counter(Delivery.objects.values_list("recipient_id", "unit_id", "channel"))
    assert set(keys.values()) == {1}


@pytest.mark.django_db
def test_the_bench_check_counts_a_split_digest(people, clock):
    """`most_messages_per_digest` (the bench's figure) sees a recipient's sweep split in two."""
    world = people
    for offset in (1, 3):
        world.case(world.unit_a, deadline=TODAY + timedelta(days=offset))
    services.sweep()
    assert digest.most_messages_per_digest() == 0  # nothing grouped yet
    services.group_new_reminders()
    assert digest.most_messages_per_digest() == 1
    # Split one recipient's email digest by hand, as the old 2,000-row groups did.
    message = Delivery.objects.filter(channel="email").first()
    assert message is not None
    moved = Reminder.objects.filter(delivery=message).order_by("id").last()
    assert moved is not None and message.reminders.count() == 2
    Reminder.objects.filter(pk=moved.pk).update(delivery=Delivery.objects.create(channel="email",
                                                recipient_id=message.recipient_id))  # fmt: skip
    assert digest.most_messages_per_digest() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a second process")
def test_the_bench_digest_step_reports_one_message_per_digest(people, clock):
    """`bench/inproc.py digest` (what `bench/run.py` runs after the sweep) on this test
    database, and its row in the bench table: at most 1, target 1."""
    world = people
    for offset in (-20, -3, 1, 5):
        world.case(world.unit_a, deadline=TODAY + timedelta(days=offset))
        world.case(world.unit_b, deadline=TODAY + timedelta(days=offset))
    services.sweep()
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_DEBUG": "true"}
    done = subprocess.run(  # noqa: S603 (a fixed command)
        [sys.executable, str(ROOT / "bench" / "inproc.py"), "digest"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["messages"] == Delivery.objects.count() > 0
    assert figures["most_per_digest"] == 1 and figures["ungrouped"] == 0
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        report = importlib.import_module("report")
    finally:
        sys.path.remove(str(ROOT / "bench"))
    size = {"digest_max": {"value": figures["most_per_digest"], "errors": 0}}
    rows, text = report.table({"small": 10, "cases": 20, "sizes": {"10": size, "20": size}})
    row = next(row for row in rows if row["metric"] == "digest_max")
    assert row["label"] == "digest: messages per recipient per channel per sweep (max)"
    assert (row["large"], row["target"], row["result"]) == (1, "≤ 1", "ok")
    assert "digest: messages per recipient per channel per sweep (max)" in text


def _database_url() -> str:
    settings = connection.settings_dict
    user, host, port = settings["USER"], settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"
