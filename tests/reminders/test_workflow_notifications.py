"""Workflow notifications (reminders.events): who each move tells, on which channel, with
what words; exactly once whatever the delivery does; never the actor, never someone who may
not see the case, nothing for a refused move."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from cases import services as case_services
from cases.errors import DomainError
from cases.models import Case, CaseEvent
from reminders import events, services
from reminders import tasks as reminder_tasks
from reminders.models import Notification, Reminder
from tests.factories import make_user, pdf_upload

from .conftest import TODAY, moment, webhook_for
from .test_concurrency import at_once

pytestmark = pytest.mark.django_db


def addressees(kind: str) -> set[tuple[str, str]]:
    """(channel, username or unit name) of every reminder of `kind`."""
    return {
        (r.channel, r.recipient.username if r.recipient_id else r.unit.name)
        for r in Reminder.objects.filter(kind=kind).select_related("recipient", "unit")
    }


def move(actor, case, to: str, note: str = "说明", **kwargs) -> Case:
    return case_services.case_transition(actor=actor, case_id=case.pk, to=to, note=note, **kwargs)


def submitted(world, case: Case) -> Case:
    """The unit starts and submits (申请销号) its case."""
    move(world.inspector_a, case, "in_progress")
    return move(world.inspector_a, case, "submitted", note="已整改完毕")


@pytest.fixture
def bots(people, bot):
    webhook_for(people.unit_a, bot)
    webhook_for(people.commission, bot)
    webhook_for(people.unit_b, bot)
    return bot


def test_it_tells_the_supervisors_a_case_awaits_verification(people, clock, bots):
    world = people
    case = submitted(world, world.case(world.unit_a))
    # Starting tells nobody; submitting tells the supervising unit's supervisors and bot.
    assert set(Reminder.objects.values_list("kind", flat=True)) == {"submitted"}
    assert addressees("submitted") == {
        ("in_app", "supervisor"),
        ("email", "supervisor"),
        ("webhook", "晋城市纪委监委"),
    }
    services.deliver()
    (message,) = mail.outbox
    assert message.to == [world.supervisor.email]
    line = f"【申请销号待验收】{case.code} {case.title}｜甲县局｜责任单位已申请销号，请及时验收"
    assert line in message.body
    assert "说明：已整改完毕" in message.body and "请按时整改" not in message.body
    (notification,) = Notification.objects.filter(user=world.supervisor)
    (item,) = notification.items
    assert item["kind"] == "submitted" and item["note"] == "已整改完毕"
    assert item["detail"] == "责任单位已申请销号，请及时验收"
    (posted,) = bots.received
    assert "【申请销号待验收】" in posted["text"]["content"]
    assert case.code in posted["text"]["content"]


@pytest.mark.parametrize(
    ("target", "label", "detail"),
    [
        ("in_progress", "退回整改", "验收未通过，已退回整改，请按意见继续整改"),
        ("completed", "验收销号", "已验收销号"),
        ("exempted", "纳入负面清单/不予整改", "已纳入负面清单/不予整改"),
    ],
)
def test_it_tells_the_unit_what_the_supervisor_decided(people, clock, bots, target, label, detail):
    world = people
    case = submitted(world, world.case(world.unit_a, checklist=["台账已建立"]))
    confirm = list(case.checklist.values_list("pk", flat=True)) if target == "completed" else []
    move(world.supervisor, case, target, note="意见", confirm=confirm)
    kind = {"in_progress": "returned", "completed": "closed", "exempted": "exempted"}[target]
    assert addressees(kind) == {
        ("in_app", "inspector_a"),
        ("email", "inspector_a"),
        ("webhook", "甲县局"),
    }
    services.deliver()
    (message,) = [m for m in mail.outbox if m.to == [world.inspector_a.email]]
    assert f"【{label}】{case.code}" in message.body and detail in message.body
    (notification,) = Notification.objects.filter(user=world.inspector_a)
    assert [(i["kind"], i["detail"]) for i in notification.items] == [(kind, detail)]
    texts = [posted["text"]["content"] for posted in bots.received]
    assert any(f"【{label}】{case.code}" in text and detail in text for text in texts)
    # Sent although the case is done: it tells what happened (only 待验收 goes stale).
    assert set(Reminder.objects.filter(kind=kind).values_list("status", flat=True)) == {"sent"}


def test_it_tells_the_unit_a_case_is_reopened(people, clock):
    world = people
    case = submitted(world, world.case(world.unit_a))
    move(world.supervisor, case, "completed")
    move(world.supervisor, case, "in_progress", note="复查发现问题反弹")
    assert addressees("reopened") == {("in_app", "inspector_a"), ("email", "inspector_a")}


def test_it_tells_the_higher_level_and_the_unit_of_an_escalation_but_not_the_actor(
    people, clock, bots
):
    world = people
    colleague = make_user(world.unit_a, "inspector", "inspector_a2", email="a2@example.org")
    case = world.case(world.unit_a)
    move(world.inspector_a, case, "escalated", note="涉及多部门")
    assert addressees("escalated") == {
        ("in_app", "inspector_a2"),
        ("email", "inspector_a2"),
        ("in_app", "supervisor"),
        ("email", "supervisor"),
        ("webhook", "甲县局"),
        ("webhook", "晋城市纪委监委"),
    }
    services.deliver()
    assert sorted(m.to[0] for m in mail.outbox) == sorted([colleague.email, world.supervisor.email])
    assert all("已提请上级协调，请协调处理" in m.body for m in mail.outbox)
    assert not Notification.objects.filter(user=world.inspector_a).exists()


def test_it_tells_the_new_unit_of_a_reassignment_and_not_the_old_one(people, clock, bots):
    world = people
    case = world.case(world.unit_a)
    case_services.case_assign(
        actor=world.supervisor, case_id=case.pk, responsible_unit=world.unit_b, note="职责调整"
    )
    # The old unit no longer sees the case: only the new unit's people and bot are told.
    assert addressees("reassigned") == {
        ("in_app", "inspector_b"),
        ("email", "inspector_b"),
        ("webhook", "乙县局"),
    }
    services.deliver()
    (message,) = mail.outbox
    assert "【调整责任】" in message.body and "责任单位调整为 乙县局" in message.body
    assert "说明：职责调整" in message.body


def test_it_tells_a_new_owner(people, clock):
    world = people
    case = world.case(world.unit_a)
    case_services.case_assign(
        actor=world.supervisor, case_id=case.pk, owner=world.inspector_a_child, note=""
    )
    assert addressees("reassigned") == {
        ("in_app", "inspector_a_child"),
        ("email", "inspector_a_child"),
    }
    services.deliver()
    (message,) = mail.outbox
    assert "责任人调整为 " + world.inspector_a_child.get_full_name() in message.body


def test_it_tells_nobody_of_a_refused_move(people, clock, bots):
    world = people
    case = world.case(world.unit_a)
    refused = [
        lambda: move(world.supervisor, case, "completed"),  # not from 待整改
        lambda: move(world.inspector_a, case, "exempted"),  # not an inspector's move
        lambda: move(world.inspector_a, case, "escalated", note=""),  # no reason
        lambda: move(world.inspector_b, case, "escalated"),  # not theirs to see
    ]
    for attempt in refused:
        with pytest.raises(DomainError):
            attempt()
    with pytest.raises(DomainError):  # a file that is not what it says
        move(world.inspector_a, case, "escalated", evidence=[pdf_upload(content=b"MZ\x90\x00")])
    with pytest.raises(DomainError):
        case_services.case_assign(actor=world.inspector_a, case_id=case.pk, owner=None)
    assert not Reminder.objects.exists()
    assert services.deliver().messages == 0 and not mail.outbox and not bots.received


def test_it_tells_no_one_who_may_not_see_the_case(people, clock, bots):
    world = people
    secret = world.case(world.unit_a, inspection=world.restricted)
    # (Brought to 待验收 directly: the unit's inspectors may not see a clue-ledger case.)
    Case.objects.filter(pk=secret.pk).update(status="submitted")
    move(world.supervisor, secret, "in_progress", note="退回")
    # The unit's inspectors may not see the clue ledger, and a group is never told of it.
    assert not Reminder.objects.filter(kind="returned").exists()


def test_it_tells_nothing_of_a_move_dated_on_an_earlier_day(people, clock):
    world = people
    earlier = moment(TODAY - timedelta(days=2))
    # A loader of a past ledger (an import, the demo): history, not news.
    case = world.case(world.unit_a, at=earlier)
    move(world.inspector_a, case, "in_progress", at=earlier + timedelta(hours=1))
    submitted_then = move(world.inspector_a, case, "submitted", at=earlier + timedelta(hours=2))
    assert submitted_then.status == "submitted"
    assert not Reminder.objects.exists()


def test_it_writes_each_notification_once_however_often_it_is_asked(people, clock, bots):
    world = people
    case = submitted(world, world.case(world.unit_a))
    event = CaseEvent.objects.filter(case=case, to_status="submitted").get()
    before = Reminder.objects.count()
    assert events.remind_event(event=event, at=event.created_at) == before  # rows offered
    assert Reminder.objects.count() == before  # … none written twice
    first, second = services.deliver(), services.deliver()
    assert first.sent == 3 and second.messages == 0 and second.sent == 0
    assert len(mail.outbox) == 1 and len(bots.received) == 1
    assert Notification.objects.filter(user=world.supervisor).count() == 1


def test_a_submission_already_decided_is_not_sent(people, clock):
    world = people
    case = submitted(world, world.case(world.unit_a))
    move(world.supervisor, case, "in_progress", note="退回")
    services.deliver()
    assert set(Reminder.objects.filter(kind="submitted").values_list("status", flat=True)) == {
        "cancelled"
    }
    assert [m.to for m in mail.outbox] == [[world.inspector_a.email]]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_it_sends_each_notification_once_when_deliveries_run_at_once(people, clock, bots):
    world = people
    cases = [world.case(world.unit_a) for _ in range(3)]
    for case in cases:
        submitted(world, case)
    move(world.supervisor, cases[0], "in_progress", note="退回")
    move(world.supervisor, cases[1], "in_progress", note="退回")
    move(world.inspector_a, cases[1], "escalated", note="协调")
    at_once(services.deliver)
    at_once(services.run_once)  # and sweeps beside the senders, again
    keys = Counter(
        Reminder.objects.values_list("case_id", "kind", "window", "recipient_id", "unit_id",
                                     "channel")
    )  # fmt: skip
    assert set(keys.values()) == {1}
    statuses = Counter(Reminder.objects.values_list("status", flat=True))
    assert set(statuses) <= {"sent", "cancelled"} and statuses["sent"]
    # One message per recipient and channel: one email each, one notification each.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [world.supervisor.email, world.inspector_a.email]
    )
    assert Notification.objects.count() == 2
    assert len(bots.received) == 2  # 晋城市纪委监委's and 甲县局's bots, once each


# --- Every door: the page, the API, bulk actions, one publication per transaction ------------


def published(monkeypatch) -> list[str]:
    sent: list[str] = []
    monkeypatch.setattr(reminder_tasks, "publish", lambda task: sent.append(task.name) or True)
    return sent


def test_the_page_and_the_api_notify_alike(people, clock, client):
    world = people
    by_page, by_api = world.case(world.unit_a), world.case(world.unit_a)
    client.force_login(world.inspector_a)
    for case in (by_page, by_api):
        move(world.inspector_a, case, "in_progress")
    page = client.post(
        reverse("cases:transition", args=[by_page.pk]), {"to": "submitted", "note": "已完成"}
    )
    assert page.status_code == 302
    api = APIClient()
    api.force_authenticate(world.inspector_a)
    answer = api.post(
        f"/api/v1/cases/{by_api.pk}/transitions/", {"to": "submitted", "note": "已完成"}, "json"
    )
    assert answer.status_code == 200
    told = Reminder.objects.filter(kind="submitted", recipient=world.supervisor)
    assert sorted(told.values_list("case_id", flat=True)) == sorted([by_page.pk, by_api.pk] * 2)


def test_a_bulk_reassignment_tells_each_unit_once_in_one_digest(
    people, clock, client, django_capture_on_commit_callbacks, monkeypatch
):
    world = people
    cases = [world.case(world.unit_a) for _ in range(3)]
    client.force_login(world.supervisor)
    sent = published(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("cases:bulk"), {
            "action": "assign", "cases": [c.pk for c in cases],
            "responsible_unit": world.unit_b.pk, "note": "职责调整",
        })  # fmt: skip
    assert sent == [reminder_tasks.deliver_reminders.name]  # one task for the whole action
    assert Reminder.objects.filter(kind="reassigned", recipient=world.inspector_b).count() == 6
    services.deliver()
    (message,) = mail.outbox
    assert message.to == [world.inspector_b.email]
    assert all(case.code in message.body for case in cases)


def test_a_rolled_back_move_publishes_nothing_and_leaves_nothing(
    people, clock, django_capture_on_commit_callbacks, monkeypatch
):
    world = people
    case = world.case(world.unit_a)
    sent = published(monkeypatch)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        move(world.inspector_a, case, "escalated", note="协调")
        raise RuntimeError("rolled back")
    assert sent == [] and not Reminder.objects.exists()
