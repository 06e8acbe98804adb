"""Sweeps and senders running at the same time, on PostgreSQL, each thread with its own
database connection: one reminder per key, each message sent once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection, connections

from reminders import services
from reminders.models import Delivery, Notification, Reminder

from .conftest import TODAY

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]

THREADS = 6


def at_once(work: Callable[[], Any], threads: int = THREADS) -> list[Any]:
    """Run `work` in `threads` threads released together; re-raise the first error."""
    start = threading.Barrier(threads)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            results.append(work())
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()  # this thread's own connection

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def reminder_keys() -> Counter:
    return Counter(
        Reminder.objects.values_list("case_id", "kind", "window", "recipient_id", "unit_id",
                                     "channel")
    )  # fmt: skip


def test_it_creates_one_reminder_per_key_from_concurrent_sweeps(people, clock):
    world = people
    for offset in (-40, -15, -9, -1, 0, 1, 3, 7):
        for unit in (world.unit_a, world.unit_b, world.unit_a_child):
            world.case(unit, deadline=TODAY + timedelta(days=offset))
    at_once(services.sweep)
    at_once(services.sweep)  # and again, all of them
    keys = reminder_keys()
    assert keys and set(keys.values()) == {1}
    expected = 24 * 2 + 2 * 3 * 2  # (in-app, email) per case; the supervisor on 2 × 3 escalations
    assert len(keys) == expected


def test_it_puts_each_reminder_in_one_message_and_sends_each_once(people, clock):
    world = people
    for offset in (-20, -3, 1, 5):
        world.case(world.unit_a, deadline=TODAY + timedelta(days=offset))
        world.case(world.unit_b, deadline=TODAY + timedelta(days=offset))
    services.sweep()
    reports = at_once(services.deliver)  # digests and delivery, concurrently
    assert not Reminder.objects.filter(delivery__isnull=True).exists()
    assert set(Reminder.objects.values_list("status", flat=True)) == {"sent"}
    sent = [outcome for report in reports for outcome in report.outcomes.values()]
    assert sent.count("sent") == Delivery.objects.count()
    assert all(m.attempts == 1 for m in Delivery.objects.all())
    # Each message went out once: one email per person and one notification per person.
    recipients = Counter(tuple(message.to) for message in mail.outbox)
    assert set(recipients.values()) == {1}
    assert Notification.objects.count() == len(recipients) == 3  # a, b and the supervisor


def test_it_sends_each_message_once_while_sweeps_run_beside_the_senders(people, clock):
    world = people
    for offset in (-16, -2, 1):
        world.case(world.unit_a, deadline=TODAY + timedelta(days=offset))

    def sweep_or_send() -> None:
        services.run_once()

    at_once(sweep_or_send)
    assert set(reminder_keys().values()) == {1}
    assert set(Reminder.objects.values_list("status", flat=True)) == {"sent"}
    delivered = Counter(r.delivery_id for r in Reminder.objects.filter(channel="email"))
    emails = Counter(tuple(m.to) for m in mail.outbox)
    assert sum(emails.values()) == len(delivered)
