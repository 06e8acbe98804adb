"""Delivery: claims and leases, retries with back-off, recorded errors, group bots on a
local HTTP server, and messages that no longer need sending."""

from __future__ import annotations

import time
import urllib.parse
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.utils import timezone

from reminders import services
from reminders.models import Delivery, Notification, Reminder
from tests.factories import drive_to

from .conftest import TODAY, moment, webhook_for

pytestmark = pytest.mark.django_db


def day(offset: int):
    return TODAY + timedelta(days=offset)


def only(channel: str) -> Delivery:
    return Delivery.objects.get(channel=channel)


def test_it_retries_an_interrupted_delivery_after_the_lease_and_sends_it_once(people, clock):
    people.case(people.unit_a, deadline=day(1))
    services.sweep()
    services.group_new_reminders()
    # A sender claims both messages (in-app, email) and dies before sending either.
    claimed = {services.claim_next()[0].pk, services.claim_next()[0].pk}
    assert services.claim_next() is None
    assert services.deliver().outcomes == {}  # the lease keeps everyone else off them
    clock.shift(timedelta(seconds=299))
    assert services.deliver().outcomes == {}
    assert mail.outbox == [] and not Notification.objects.exists()
    clock.shift(timedelta(seconds=2))  # the lease is over: the next sender takes over
    assert services.deliver().outcomes == dict.fromkeys(claimed, "sent")
    assert services.deliver().outcomes == {}
    clock.shift(timedelta(hours=1))
    assert services.deliver().outcomes == {}
    assert len(mail.outbox) == 1 and Notification.objects.count() == 1
    for message in Delivery.objects.all():
        assert (message.status, message.attempts, message.claimed_until) == ("sent", 2, None)
    assert set(Reminder.objects.values_list("status", flat=True)) == {"sent"}


def test_it_records_nothing_for_a_sender_whose_lease_was_taken_over(people, clock):
    people.case(people.unit_a, deadline=day(1))
    services.sweep()
    services.group_new_reminders()
    slow, token = services.claim_next()
    clock.shift(timedelta(seconds=301))
    fast, _ = services.claim_next()
    assert fast.pk == slow.pk
    assert services._finish(slow, token, "sent", live=[], stale=[]) == "lost"
    assert Delivery.objects.get(pk=slow.pk).status == "pending"


def test_it_retries_a_failing_group_bot_with_back_off_and_records_the_errors(people, clock, bot):
    webhook_for(people.unit_a, bot)
    bot.answers = [(500, {}), (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
                   (200, {"errcode": 0, "errmsg": "ok"})]  # fmt: skip
    case = people.case(people.unit_a, deadline=day(1))
    services.sweep()
    report = services.deliver()
    # The bot's failure holds nothing else up: email and in-app went out.
    assert (report.sent, report.retrying) == (2, 1)
    assert len(mail.outbox) == 1 and Notification.objects.count() == 1
    message = only("webhook")
    assert (message.status, message.attempts, message.last_error) == ("pending", 1, "HTTP 500")
    assert message.next_attempt_at == timezone.now() + timedelta(seconds=60)
    assert services.deliver().outcomes == {}  # not before its back-off is over
    clock.shift(timedelta(seconds=60))
    assert services.deliver().outcomes == {message.pk: "retrying"}
    message.refresh_from_db()
    # The bot's code, never its text (errmsg is what the other side wrote).
    assert message.last_error == "errcode 45009"
    assert message.next_attempt_at == timezone.now() + timedelta(seconds=120)  # doubled
    clock.shift(timedelta(seconds=120))
    assert services.deliver().outcomes == {message.pk: "sent"}
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 3)
    assert [e["error"] for e in message.errors] == ["HTTP 500", "errcode 45009"]
    assert Reminder.objects.get(delivery=message).status == "sent"
    assert len(bot.received) == 3
    text = bot.received[-1]["text"]["content"]
    assert bot.received[-1]["msgtype"] == "text"
    assert "甲县局" in text and case.code in text and "临期提醒" in text


def test_it_gives_up_after_the_bots_configured_attempts(people, clock, bot):
    webhook_for(people.unit_a, bot, max_attempts=2)
    bot.answers = [(502, {})]
    people.case(people.unit_a, deadline=day(1))
    services.sweep()
    services.deliver()
    clock.shift(timedelta(hours=1))
    assert services.deliver().failed == 1
    message = only("webhook")
    assert (message.status, message.attempts, len(message.errors)) == ("failed", 2, 2)
    assert Reminder.objects.get(delivery=message).status == "failed"
    clock.shift(timedelta(days=1))
    assert services.deliver().outcomes == {}
    # An admin can send it again.
    bot.answers = [(200, {"errcode": 0})]
    assert services.delivery_retry(delivery_ids=[message.pk]) == 1
    assert services.deliver().outcomes == {message.pk: "sent"}


def test_it_gives_up_on_a_hung_bot_after_its_timeout(people, clock, bot):
    webhook_for(people.unit_a, bot, timeout_seconds=1)
    bot.delay = 2
    people.case(people.unit_a, deadline=day(1))
    services.sweep()
    started = time.monotonic()
    services.deliver()
    assert time.monotonic() - started < 1.9
    assert "超时" in only("webhook").last_error


def test_it_signs_dingtalk_requests_when_a_secret_is_set(people, clock, bot):
    webhook_for(people.unit_a, bot, flavour="dingtalk", secret="SEC123")
    people.case(people.unit_a, deadline=day(1))
    services.sweep()
    services.deliver()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(bot.paths[0]).query)
    assert query["key"] == ["test-key"] and query["timestamp"] and query["sign"]


def test_it_keeps_a_wecom_message_within_its_size_limit(people, clock, bot):
    webhook_for(people.unit_a, bot)
    for n in range(40):
        people.case(people.unit_a, deadline=day(1), title=f"问题标题很长很长很长很长很长{n}")
    services.sweep()
    services.deliver()
    (received,) = bot.received
    text = received["text"]["content"]
    assert len(text.encode()) <= 2000
    assert "另有" in text and text.endswith("https://tracker.example.org/cases/")
    assert only("webhook").status == "sent"


def test_it_retries_a_failing_mail_server(people, clock, monkeypatch):
    people.case(people.unit_a, deadline=day(1))
    services.sweep()
    real_send = EmailMessage.send
    monkeypatch.setattr(EmailMessage, "send", lambda self, *a, **k: 1 / 0)
    services.deliver()
    assert only("email").last_error == "ZeroDivisionError: division by zero"
    monkeypatch.setattr(EmailMessage, "send", real_send)
    clock.shift(timedelta(minutes=1))
    services.deliver()
    assert only("email").status == "sent" and len(mail.outbox) == 1


def test_it_cancels_what_no_longer_needs_sending(people, clock):
    world = people
    done = world.case(world.unit_a, deadline=day(1))
    moved = world.case(world.unit_b, deadline=day(1))
    services.sweep()
    drive_to(done, "completed", world.supervisor)
    from cases import services as case_services

    case_services.case_extend_deadline(
        actor=world.supervisor, case_id=moved.pk, deadline=day(20), reason="延期"
    )
    report = services.deliver()
    # The deadline reminders are all cancelled, and so is the supervisor's notice that the
    # unit's inspector submitted the case (drive_to): the supervisor has closed it since.
    # inspector_a's messages still go out, with the close's own notice (reminders.events) in
    # them and nothing else.
    swept = Reminder.objects.exclude(kind="closed")
    assert set(swept.values_list("status", flat=True)) == {"cancelled"}
    assert set(swept.filter(kind="submitted").values_list("recipient", flat=True)) == {
        world.supervisor.pk
    }
    assert set(Reminder.objects.filter(kind="closed").values_list("status", flat=True)) == {"sent"}
    # Cancelled: inspector_b's two (deadline moved) and the supervisor's two (case closed).
    assert report.cancelled == 4 and report.sent == 2
    assert set(Delivery.objects.filter(status="cancelled").values_list("recipient", flat=True)) == {
        world.supervisor.pk,
        world.inspector_b.pk,
    }
    (message,) = mail.outbox
    assert message.to == [world.inspector_a.email] and "验收销号" in message.body
    assert "临期提醒" not in message.body
    (notification,) = Notification.objects.all()
    assert [item["kind"] for item in notification.items] == ["closed"]


def test_it_sends_only_the_live_reminders_of_a_digest(people, clock):
    world = people
    done = world.case(world.unit_a, deadline=day(1))
    live = world.case(world.unit_a, deadline=day(2))
    services.sweep()
    drive_to(done, "exempted", world.supervisor)
    services.deliver()
    (message,) = mail.outbox
    assert live.code in message.body
    # The done case's deadline reminder is not sent; only the notice that it was exempted.
    assert f"【临期提醒】{done.code}" not in message.body
    assert f"【纳入负面清单/不予整改】{done.code}" in message.body
    assert Reminder.objects.get(case=done, channel="email", kind="due_soon").status == "cancelled"


def test_it_writes_an_in_app_notification_exactly_once(people, clock):
    people.case(people.unit_a, deadline=day(1))
    services.sweep()
    services.group_new_reminders()
    message = only("in_app")
    for _ in range(3):
        services.deliver()
        clock.shift(timedelta(minutes=10))
    (notification,) = Notification.objects.all()
    assert notification.delivery_id == message.pk and notification.user == people.inspector_a
    assert notification.read_at is None


def test_it_stops_retrying_a_message_whose_senders_keep_dying(people, clock):
    people.case(people.unit_a, deadline=day(1))
    services.sweep()
    services.group_new_reminders()
    Delivery.objects.filter(channel="in_app").update(status="cancelled")
    for _ in range(3):  # REMINDER_MAX_ATTEMPTS claims, each abandoned
        assert services.claim_next() is not None
        clock.shift(timedelta(seconds=301))
    assert services.deliver().outcomes == {only("email").pk: "failed"}
    assert "中断" in only("email").last_error


def test_it_backs_off_exponentially_up_to_the_cap(settings):
    settings.REMINDER_RETRY_BASE_SECONDS = 60
    settings.REMINDER_RETRY_MAX_SECONDS = 600
    delays = [services.retry_delay(n).total_seconds() for n in range(1, 7)]
    assert delays == [60, 120, 240, 480, 600, 600]


def test_it_describes_the_deadline_as_of_sending(people, clock):
    people.case(people.unit_a, deadline=day(1))
    services.sweep()
    clock.move_to(moment(day(0), 23))
    services.deliver()
    (message,) = mail.outbox
    assert "还剩 1 天" in message.body


def test_it_checks_who_may_receive_again_when_sending(people, clock, bot):
    from cases import organisation
    from cases import services as case_services

    world = people
    webhook_for(world.unit_a, bot)
    hidden = world.case(world.unit_a, deadline=day(1), title="转为限定台账的问题")
    moved = world.case(world.unit_a, deadline=day(1), title="移交乙县局的问题")
    services.sweep()
    # Between the sweep and the send the ledger becomes restricted, and a case moves away.
    restricted = organisation.inspection_create(
        name="限定台账", kind="clue_ledger", year=2026, issuing_unit=world.commission
    )
    from cases.models import Case

    Case.objects.filter(pk=hidden.pk).update(inspection=restricted)
    case_services.case_assign(
        actor=world.supervisor, case_id=moved.pk, responsible_unit=world.unit_b
    )
    services.deliver()
    sent_to_a = {
        r.case_id for r in Reminder.objects.filter(status="sent", recipient__username="inspector_a")
    }
    assert hidden.pk not in sent_to_a and moved.pk not in sent_to_a
    assert not any(
        "转为限定台账" in str(body) or "移交乙县局" in str(body) for body in bot.received
    )
    assert not any(
        "转为限定台账" in message.body
        for message in mail.outbox
        if "inspector_a@example.org" in message.to
    )
