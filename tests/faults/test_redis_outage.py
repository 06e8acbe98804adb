"""Redis stopped or hung (accepting connections, never answering): pages, the API and
/healthz answer quickly without a 5xx, status changes commit, and after recovery the
reminders that could not be sent go out exactly once."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cases.models import Case, CaseEvent
from reminders.models import Delivery, Notification, Reminder
from reminders.tasks import deliver_reminders, publish, send_due_reminders
from tests.factories import api_key
from tests.reminders.test_celery import celery_conf
from tracker.celery import app as celery_app

from .conftest import REDIS_URL, needs_redis, redis_db, timed
from .proxy import HANG, REFUSE

pytestmark = [needs_redis]

# A request may wait for one Redis timeout (1 s: the throttle's cache read, or a publish),
# never for a hung server.
QUICK = 2.5


def test_every_redis_client_has_short_timeouts():
    options = settings.CACHES["default"]["OPTIONS"]
    assert 0 < options["socket_connect_timeout"] <= 2 and 0 < options["socket_timeout"] <= 2
    transport = celery_app.conf.broker_transport_options
    assert 0 < transport["socket_connect_timeout"] <= 2 and 0 < transport["socket_timeout"] <= 2
    assert 0 < celery_app.conf.broker_connection_timeout <= 2
    policy = celery_app.conf.task_publish_retry_policy
    assert policy["max_retries"] <= 2 and policy["interval_max"] <= 1
    assert 0 < settings.REMINDER_PUBLISH_TIMEOUT_SECONDS <= 2
    # A task whose worker died is delivered again (tests/faults/test_worker_killed.py).
    assert celery_app.conf.task_acks_late and celery_app.conf.task_reject_on_worker_lost
    assert transport["visibility_timeout"] >= 60


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", [HANG, REFUSE])
def test_it_keeps_working_with_redis_down_and_catches_up_after(
    mode, people, client, app_on_redis_proxy, caplog
):
    proxy = app_on_redis_proxy
    world = people
    case = world.case(world.unit_a)
    due_tomorrow = world.case(world.unit_a, deadline=timezone.localdate() + timedelta(days=1))
    api = APIClient()
    # The unit's inspector: starts and submits its case (cases.rules).
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_key(world.inspector_a)}")
    client.force_login(world.inspector_a)
    # Up: the cache holds a pooled connection, which the outage then freezes or resets.
    assert api.get("/api/v1/cases/").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "broker": "ok"}

    proxy.mode = mode
    with caplog.at_level(logging.WARNING):
        page, took = timed(lambda: client.get(reverse("cases:detail", args=[case.pk])))
        assert page.status_code == 200 and took < QUICK
        listing, took = timed(lambda: client.get(reverse("cases:list")))
        assert listing.status_code == 200 and took < QUICK

        listed, took = timed(lambda: api.get("/api/v1/cases/"))
        assert listed.status_code == 200 and took < QUICK
        assert {item["id"] for item in listed.json()["results"]} >= {case.pk}

        moved, took = timed(
            lambda: client.post(reverse("cases:transition", args=[case.pk]), {"to": "in_progress"})
        )
        assert moved.status_code == 302 and took < QUICK
        assert Case.objects.get(pk=case.pk).status == "in_progress"

        moved, took = timed(
            lambda: api.post(
                f"/api/v1/cases/{case.pk}/transitions/",
                {"to": "submitted", "note": "已整改"},
                format="json",
            )
        )
        assert moved.status_code == 200 and took < QUICK
        assert Case.objects.get(pk=case.pk).status == "submitted"

        # A follow-up's reminders are written with it; publishing their task fails quickly.
        client.force_login(world.supervisor)
        followed, took = timed(
            lambda: client.post(reverse("cases:follow-up", args=[case.pk]), {"note": "请加快"})
        )
        assert followed.status_code == 302 and took < QUICK
        assert CaseEvent.objects.filter(case=case, kind="follow_up").count() == 1
        assert Reminder.objects.filter(case=case, kind="follow_up").count() == 2
        assert "could not publish reminders.deliver_reminders" in caplog.text

        health, took = timed(lambda: client.get("/healthz"))
        assert health.status_code == 200 and took < QUICK
        assert health.json() == {"status": "degraded", "database": "ok", "broker": "error"}
    assert not Delivery.objects.exists() and not mail.outbox

    proxy.mode = "forward"
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "broker": "ok"}
    # Publishing works again through the same (recovered) clients: the message reaches Redis.
    queue = f"faults-{mode}-{case.pk}"
    direct = redis.Redis.from_url(REDIS_URL, db=redis_db(REDIS_URL))
    try:
        with celery_conf(task_default_queue=queue):
            assert publish(deliver_reminders) is True
        assert direct.llen(queue) == 1
    finally:
        direct.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        direct.close()

    # What the worker then runs: the redelivered task, the sweep beat could not send during
    # the outage, and the sweep's next regular run, with the same work found each time.
    deliver_reminders.apply().get()
    send_due_reminders.apply().get()
    send_due_reminders.apply().get()

    keys = Counter(
        Reminder.objects.values_list("case_id", "kind", "window", "recipient_id", "channel")
    )
    assert set(keys.values()) == {1}
    assert {(case_id, kind) for case_id, kind, *_ in keys} == {
        (case.pk, "submitted"),  # the unit's submission tells the supervisor (reminders.events)
        (case.pk, "follow_up"),
        (due_tomorrow.pk, "due_soon"),
    }
    assert set(Reminder.objects.values_list("status", flat=True)) == {"sent"}
    # inspector_a got two digests per channel: the follow-up (sent first), then the due-soon
    # one; the supervisor one per channel, of the submission, with the redelivered task.
    assert Delivery.objects.filter(status="sent").count() == Delivery.objects.count() == 6
    assert Delivery.objects.filter(recipient=world.inspector_a).count() == 4
    assert Delivery.objects.filter(recipient=world.supervisor).count() == 2
    inspector_mail = [m for m in mail.outbox if m.to == ["inspector_a@example.org"]]
    assert len(inspector_mail) == 2 and len(mail.outbox) == 3
    assert [m.to for m in mail.outbox if m not in inspector_mail] == [[world.supervisor.email]]
    notes = [n.items for n in Notification.objects.filter(user=world.inspector_a).order_by("pk")]
    assert len(notes) == 2 and notes[0][0]["note"] == "请加快"
    (told,) = Notification.objects.filter(user=world.supervisor)
    assert [item["kind"] for item in told.items] == ["submitted"]
