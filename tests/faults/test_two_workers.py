"""Two Celery workers consuming the same queue, as two machines would run them (the broker and
the database shared, nothing else): sweeps and deliveries are published again and again, each
taken by whichever worker is free, with both at work at once. Nothing is done twice: each
reminder is written once and sent once, each delivery makes one notification, and a sweep
afterwards finds nothing left to do. The work is claimed in the database (the reminders'
unique key, the deliveries' claim with a lease), never by which worker got the message."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from reminders import services
from reminders.models import Delivery, Notification, Reminder
from reminders.tasks import deliver_reminders, publish, send_due_reminders

from .conftest import REDIS_URL, needs_postgres, needs_redis, redis_db, unacked_tags
from .workers import received, wait_for

pytestmark = [needs_postgres, needs_redis, pytest.mark.postgres]

ROUNDS = 12  # each task published this many times: more messages than either worker holds


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_queue_send_each_reminder_once(people, queue, workers, settings):
    settings.REMINDER_CHANNELS = ["in_app"]
    world = people
    soon = timezone.localdate() + timedelta(days=1)
    for unit in (world.unit_a, world.unit_b):
        for _ in range(4):
            world.case(unit, deadline=soon)
    first, second = workers(queue, "first"), workers(queue, "second")
    for _ in range(ROUNDS):
        assert publish(send_due_reminders) is True
        assert publish(deliver_reminders) is True

    tasks = ("reminders.send_due_reminders", "reminders.deliver_reminders")
    client = redis.Redis.from_url(REDIS_URL, db=redis_db(REDIS_URL))

    def all_done() -> bool:
        taken = sum(received(worker, task) for worker in (first, second) for task in tasks)
        # Acknowledged once done (acks_late): nothing waiting, nothing held.
        return taken == 2 * ROUNDS and not client.llen(queue) and not unacked_tags(client, queue)

    wait_for(all_done, 90, first)
    client.close()
    # Both took part: each received some of the messages.
    assert all(sum(received(worker, task) for task in tasks) for worker in (first, second))

    reminders = list(Reminder.objects.all())
    assert reminders and {reminder.status for reminder in reminders} == {"sent"}
    keys = [(r.case_id, r.kind, r.window, r.channel, r.recipient_id) for r in reminders]
    assert len(keys) == len(set(keys))
    deliveries = list(Delivery.objects.all())
    assert deliveries and {d.status for d in deliveries} == {"sent"}
    assert {d.attempts for d in deliveries} == {1}  # never taken by both
    assert Notification.objects.count() == len(deliveries)
    # Every recipient's reminders of the sweep went out in one message (a digest never splits).
    recipients = [d.recipient_id for d in deliveries if d.recipient_id is not None]
    assert len(recipients) == len(set(recipients))
    assert services.sweep().reminders == 0  # nothing left for a later sweep
    assert "Traceback" not in first.text() + second.text()
