"""A Celery worker killed (kill -9) in the middle of a task, for real: a worker process on
the test's Redis database and PostgreSQL database. The task is held at a known point by a row
lock this test takes (the worker waits on it inside its transaction), then the worker dies.
Nothing is lost (the message is delivered again: acks_late, the visibility timeout, reject on
worker lost) and nothing is done twice (the work is claimed in the database)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import redis
from django.db import connections, transaction
from django.utils import timezone

from cases import services as case_services
from reminders import services
from reminders.models import Delivery, Notification, Reminder
from reminders.tasks import deliver_reminders, publish, send_due_reminders
from tests.reminders.test_celery import celery_conf

from .conftest import REDIS_URL, free_port, needs_postgres, needs_redis, redis_db, unacked_tags
from .workers import backend_gone, received, row_lock, wait_for, waiting_on_lock

pytestmark = [needs_postgres, needs_redis, pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_recording_a_delivery_loses_and_repeats_nothing(
    people, queue, workers, settings
):
    settings.REMINDER_CHANNELS = ["in_app"]
    world = people
    case = world.case(world.unit_a)
    # The follow-up is written while the broker is down: its reminders wait in the database.
    with celery_conf(broker_url=f"redis://127.0.0.1:{free_port()}/0"):
        case_services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="请三日内报送")
    assert services.group_new_reminders() == 1
    (message,) = Delivery.objects.all()
    reminder_ids = list(Reminder.objects.values_list("pk", flat=True))
    assert len(reminder_ids) == 1

    first = workers(queue, "first")
    # The worker claims the message and writes the notification, then waits on this lock to
    # mark the reminder sent, inside the transaction that records the outcome.
    with row_lock(
        "SELECT id FROM reminders_reminder WHERE id = ANY(%s) FOR UPDATE", [reminder_ids]
    ):
        assert publish(deliver_reminders) is True
        backend = wait_for(lambda: waiting_on_lock('UPDATE "reminders_reminder"'), 30, first)
        message.refresh_from_db()
        assert message.attempts == 1 and message.claim_token is not None
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    wait_for(lambda: backend_gone(backend), 10)  # its transaction is rolled back

    message.refresh_from_db()
    assert message.status == "pending" and message.claimed_until is not None
    assert not Notification.objects.exists()
    assert received(first, "reminders.deliver_reminders") == 1

    # A new worker gets the unacknowledged message again once the visibility timeout is
    # over, and sends the message once the dead sender's lease has run out.
    second = workers(queue, "second")
    wait_for(lambda: Delivery.objects.filter(status="sent").exists(), 30, second)
    message.refresh_from_db()
    assert message.attempts == 2 and message.status == "sent"
    (notification,) = Notification.objects.all()
    assert notification.user_id == world.inspector_a.pk
    assert [item["note"] for item in notification.items] == ["请三日内报送"]
    assert set(Reminder.objects.values_list("status", flat=True)) == {"sent"}
    assert received(second, "reminders.deliver_reminders") == 1
    # The message was acknowledged this time: nothing left to deliver a third time.
    client = redis.Redis.from_url(REDIS_URL, db=redis_db(REDIS_URL))
    wait_for(lambda: not unacked_tags(client, queue) and not client.llen(queue), 10)
    client.close()
    # The worker's logs are JSON lines, the task's own with its id.
    assert any(entry.get("task") == "reminders.deliver_reminders" for entry in second.json_logs())


@contextmanager
def sweep_held_open() -> Iterator[None]:
    """Run the sweep in a transaction of another connection and keep it open (uncommitted)
    until the block ends, then roll it back: another sweep inserting the same reminders waits
    on it, mid-transaction (the unique key)."""
    swept, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with transaction.atomic():
                assert services.sweep().reminders == 1
                swept.set()
                release.wait(60)
                transaction.set_rollback(True)
        except BaseException as error:
            errors.append(error)
        finally:
            swept.set()
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    swept.wait(30)
    try:
        yield
    finally:
        release.set()
        thread.join(30)
    if errors:
        raise errors[0]


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_killed_mid_sweep_is_redone_once(people, queue, workers, settings):
    settings.REMINDER_CHANNELS = ["in_app"]
    world = people
    case = world.case(world.unit_a, deadline=timezone.localdate() + timedelta(days=1))
    # An hour's visibility timeout, as in production: only the requeue can bring it back.
    worker = workers(queue, "prefork", pool="prefork", visibility=3600)
    (child,) = worker.children()
    with sweep_held_open():
        assert publish(send_due_reminders) is True
        # The worker's sweep inserts the same reminder: it waits, inside its transaction.
        wait_for(lambda: waiting_on_lock('INSERT INTO "reminders_reminder"'), 30, worker)
        os.kill(child, signal.SIGKILL)  # as the OOM killer would
        # The task is handed to a new child at once (reject on worker lost), whose sweep
        # waits in the same place.
        wait_for(lambda: received(worker, "reminders.send_due_reminders") == 2, 30, worker)
        assert not Reminder.objects.exists()

    wait_for(lambda: Delivery.objects.filter(status="sent").exists(), 30, worker)
    assert worker.process.poll() is None and child not in worker.children()
    (reminder,) = Reminder.objects.all()
    assert (reminder.case_id, reminder.kind, reminder.recipient_id, reminder.status) == (
        case.pk, "due_soon", world.inspector_a.pk, "sent",
    )  # fmt: skip
    (notification,) = Notification.objects.all()
    assert notification.user_id == world.inspector_a.pk
    assert Delivery.objects.get().attempts == 1
    assert "WorkerLostError" in worker.text()
