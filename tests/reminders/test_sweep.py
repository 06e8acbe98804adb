"""The sweep and the follow-up hook, with time frozen: what is reminded, to whom, by which
channel, once; and the digest that groups a recipient's reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import services as case_services
from cases.errors import Forbidden
from cases.models import Case
from reminders import services
from reminders import tasks as reminder_tasks
from reminders.models import Delivery, Notification, Reminder
from tests.factories import drive_to, make_unit, make_user

from .conftest import TODAY, moment, webhook_for

pytestmark = pytest.mark.django_db


def day(offset: int):
    return TODAY + timedelta(days=offset)


def keys(case: Case | None = None) -> set[tuple]:
    rows = Reminder.objects.select_related("recipient", "unit")
    if case is not None:
        rows = rows.filter(case=case)
    return {
        (r.kind, r.window.split("/")[-1], (r.recipient or r.unit).__str__(), r.channel)
        for r in rows
    }


def addressed(case: Case) -> set[str]:
    return {
        r.recipient.username for r in Reminder.objects.filter(case=case, recipient__isnull=False)
    }


# --- Each rule, time frozen -------------------------------------------------------------------


def test_it_reminds_the_owner_a_week_and_a_day_before_the_deadline(people, clock):
    world = people
    case = world.case(world.unit_a, owner=world.inspector_a, deadline=day(7))
    services.sweep()
    assert keys(case) == {
        ("due_soon", "d7", "inspector_a", "in_app"),
        ("due_soon", "d7", "inspector_a", "email"),
    }
    for offset in (1, 2, 3, 4, 5):
        clock.move_to(moment(day(offset)))
        services.sweep()
    assert {k[1] for k in keys(case)} == {"d7"}  # nothing new until one day is left
    clock.move_to(moment(day(6)))
    services.sweep()
    assert {k[1] for k in keys(case)} == {"d7", "d1"}
    assert Reminder.objects.filter(case=case).count() == 4


def test_it_reminds_overdue_on_the_first_day_then_weekly_then_escalates(people, clock):
    world = people
    case = world.case(world.unit_a, deadline=day(-1))
    sent = []
    for offset in range(0, 23):
        clock.move_to(moment(day(offset)))
        before = Reminder.objects.count()
        services.sweep()
        if Reminder.objects.count() > before:
            sent.append(offset + 1)  # days past the deadline
    # Overdue on days 1 and 8, escalation on days 15 and 22.
    assert sent == [1, 8, 15, 22]
    windows = {(k[0], k[1]) for k in keys(case)}
    assert windows == {("overdue", "o0"), ("overdue", "o1"), ("escalation", "e0"),
                       ("escalation", "e1")}  # fmt: skip
    # The escalation adds the supervising unit's supervisors; the overdue ones do not.
    escalation = Reminder.objects.filter(case=case, kind="escalation")
    assert {r.recipient.username for r in escalation} == {"inspector_a", "supervisor"}
    overdue = Reminder.objects.filter(case=case, kind="overdue")
    assert {r.recipient.username for r in overdue} == {"inspector_a"}


def test_it_catches_up_on_the_band_it_is_in_after_downtime(people, clock):
    world = people
    case = world.case(world.unit_a, deadline=day(10))
    clock.move_to(moment(day(5)))  # the sweep did not run while 7 to 6 days were left
    services.sweep()
    assert {k[1] for k in keys(case)} == {"d7"}


# The kinds the sweep writes (the rest tell of events as they happen: reminders.events).
SWEPT = ("due_soon", "overdue", "escalation")


@pytest.mark.parametrize("status", ["completed", "exempted"])
def test_it_never_reminds_a_done_case(people, clock, status):
    world = people
    case = world.case(world.unit_a, deadline=day(1))
    overdue = world.case(world.unit_a, deadline=day(-20))
    drive_to(case, status, world.supervisor)
    drive_to(overdue, status, world.supervisor)
    services.sweep()
    # (The moves themselves notified the unit: reminders.events, not the sweep.)
    assert not Reminder.objects.filter(kind__in=SWEPT).exists()


@pytest.mark.parametrize("status", ["open", "in_progress", "submitted"])
def test_it_reminds_every_open_state(people, clock, status):
    case = drive_to(people.case(people.unit_a, deadline=day(-1)), status, people.supervisor)
    services.sweep()
    assert Reminder.objects.filter(case=case, kind="overdue").exists()


def test_it_follows_the_policy_for_cases_awaiting_higher_level_coordination(
    people, clock, settings
):
    case = drive_to(people.case(people.unit_a, deadline=day(-3)), "escalated", people.supervisor)
    services.sweep()
    assert not Reminder.objects.filter(kind__in=SWEPT).exists()
    settings.REMINDER_REMIND_ESCALATED = True
    services.sweep()
    assert Reminder.objects.filter(case=case, kind="overdue").exists()


def test_it_starts_afresh_when_the_deadline_is_extended(people, clock):
    world = people
    case = world.case(world.unit_a, deadline=day(-2))
    services.sweep()
    case_services.case_extend_deadline(
        actor=world.supervisor, case_id=case.pk, deadline=day(1), reason="延期"
    )
    services.sweep()
    assert {(k[0], k[1]) for k in keys(case)} == {("overdue", "o0"), ("due_soon", "d1")}


def test_it_runs_repeatedly_without_duplicates(people, clock):
    world = people
    for offset in (-30, -8, -1, 0, 1, 7):
        world.case(world.unit_a, deadline=day(offset))
    services.sweep()
    first = Reminder.objects.count()
    assert first == 6 * 2 + 2  # 6 cases × (in-app, email), + the supervisor's escalation
    for _ in range(3):
        report = services.sweep()
        assert report.reminders == 0 and report.cases == 6
    assert Reminder.objects.count() == first


# --- Recipients ---------------------------------------------------------------------------


def test_it_reminds_the_units_own_inspectors_when_there_is_no_owner(people, clock):
    world = people
    case = world.case(world.unit_a, deadline=day(1))
    make_user(world.unit_a, "inspector", "second_a")
    services.sweep()
    # Not the sub-unit's inspector, nor the supervisors.
    assert addressed(case) == {"inspector_a", "second_a"}


def test_it_reminds_the_owner_instead_of_the_inspectors(people, clock):
    world = people
    case = world.case(world.unit_a, deadline=day(1), owner=world.inspector_a)
    make_user(world.unit_a, "inspector", "second_a")
    services.sweep()
    assert addressed(case) == {"inspector_a"}


def test_it_falls_back_to_the_nearest_unit_above_with_inspectors(people, clock):
    world = people
    office = make_unit("甲县局办公室", parent=world.unit_a)
    case = world.case(office, deadline=day(1))
    services.sweep()
    assert addressed(case) == {"inspector_a"}


def test_it_reminds_nobody_who_may_not_see_the_case(people, clock):
    world = people
    secret = world.case(world.unit_a, inspection=world.restricted, deadline=day(-20))
    services.sweep()
    # Inspectors never see the restricted clue ledger: only the escalation's supervisor.
    assert addressed(secret) == {"supervisor"}
    # An owner in a sub-unit sees the case they own, so they are reminded of it.
    case = world.case(world.unit_a, deadline=day(1), owner=world.inspector_a_child)
    services.sweep()
    assert addressed(case) == {"inspector_a_child"}


def test_it_skips_inactive_owners_and_email_for_people_without_an_address(people, clock):
    world = people
    world.inspector_a.email = ""
    world.inspector_a.save()
    case = world.case(world.unit_a, deadline=day(1), owner=world.inspector_a)
    other = world.case(world.unit_a, deadline=day(10), owner=world.inspector_a)
    services.sweep()
    assert keys(case) == {("due_soon", "d1", "inspector_a", "in_app")}
    world.inspector_a.is_active = False
    world.inspector_a.save()
    make_user(world.unit_a, "inspector", "second_a")
    clock.move_to(moment(day(3)))
    services.sweep()
    assert addressed(other) == {"second_a"}


def test_it_posts_to_the_units_group_bot_and_the_supervisors_on_escalation(people, clock, bot):
    world = people
    webhook_for(world.unit_a, bot)
    webhook_for(world.commission, bot)
    soon = world.case(world.unit_a, deadline=day(1))
    late = world.case(world.unit_a, deadline=day(-15))
    secret = world.case(world.unit_a, inspection=world.restricted, deadline=day(-15))
    services.sweep()
    groups = {(r.case_id, r.unit.name) for r in Reminder.objects.filter(channel="webhook")}
    assert groups == {(soon.pk, "甲县局"), (late.pk, "甲县局"), (late.pk, "晋城市纪委监委")}
    assert not Reminder.objects.filter(case=secret, channel="webhook").exists()


def test_it_uses_only_the_configured_channels(people, clock, settings):
    settings.REMINDER_CHANNELS = ["in_app"]
    case = people.case(people.unit_a, deadline=day(1))
    services.sweep()
    assert {k[3] for k in keys(case)} == {"in_app"}


def test_it_counts_working_days_and_reminds_nobody_on_a_day_off(people, clock, settings):
    settings.REMINDER_WORKING_DAYS = True
    world = people
    case = world.case(world.unit_a, deadline=day(2))  # Wednesday 2026-03-04
    clock.move_to(moment(day(-8)))  # Sunday 2026-02-22: Spring Festival
    services.sweep()
    assert not Reminder.objects.exists()
    clock.move_to(moment(day(-2)))  # Saturday 2026-02-28, worked in exchange (调休)
    services.sweep()
    assert {k[1] for k in keys(case)} == {"d7"}
    clock.move_to(moment(day(5)))  # Saturday 2026-03-07: overdue, but nobody is at work
    services.sweep()
    assert not Reminder.objects.filter(case=case, kind="overdue").exists()
    clock.move_to(moment(day(7)))  # Monday 2026-03-09
    services.sweep()
    assert Reminder.objects.filter(case=case, kind="overdue", window="2026-03-04/o0").count() == 2


# --- Follow-ups ----------------------------------------------------------------------------


def test_it_sends_a_follow_up_through_the_case_service(people, clock):
    world = people
    case = world.case(world.unit_a, deadline=day(30))
    event = case_services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="请加快")
    assert keys(case) == {
        ("follow_up", f"event-{event.pk}", "inspector_a", "in_app"),
        ("follow_up", f"event-{event.pk}", "inspector_a", "email"),
    }
    assert {r.event_id for r in Reminder.objects.filter(case=case)} == {event.pk}
    services.deliver()
    (message,) = mail.outbox
    assert "请加快" in message.body and case.code in message.body


def test_it_records_a_follow_up_of_an_earlier_day_as_history_only(people, clock):
    world = people
    # (Registered before it: a history is never back-dated before its last entry.)
    case = world.case(world.unit_a, deadline=day(30), at=moment(day(-5)))
    case_services.case_follow_up(
        actor=world.supervisor, case_id=case.pk, note="补录", at=moment(day(-3))
    )
    assert case.events.filter(kind="follow_up").exists()
    assert not Reminder.objects.exists()


def test_it_writes_no_reminder_for_a_refused_follow_up(people, clock):
    world = people
    case = world.case(world.unit_a, deadline=day(30))
    with pytest.raises(Forbidden):
        case_services.case_follow_up(actor=world.inspector_a, case_id=case.pk, note="越权")
    assert not Reminder.objects.exists()


# --- Digests --------------------------------------------------------------------------------


def test_it_sends_one_digest_per_recipient_and_channel(people, clock):
    world = people
    mine = [world.case(world.unit_a, deadline=day(n)) for n in (-20, -3, 1, 5)]
    theirs = world.case(world.unit_b, deadline=day(1))
    services.sweep()
    report = services.deliver()
    by_recipient = {tuple(m.to): m for m in mail.outbox}
    assert sorted(by_recipient) == [
        ("inspector_a@example.org",),
        ("inspector_b@example.org",),
        ("supervisor@example.org",),
    ]
    digest = by_recipient[("inspector_a@example.org",)].body
    assert all(case.code in digest for case in mine) and theirs.code not in digest
    assert "https://tracker.example.org/cases/" in digest
    assert "逾期升级督办" in digest and "临期提醒" in digest and "逾期提醒" in digest
    (note,) = Notification.objects.filter(user=world.inspector_a)
    assert [item["case"] for item in note.items] == [c.pk for c in mine]
    assert report.sent == Delivery.objects.count() == 6  # 3 people × (email, in-app)
    assert not Reminder.objects.exclude(status="sent").exists()


def published(monkeypatch) -> list[str]:
    """The names of the tasks sent to the broker from here on (none really is)."""
    sent: list[str] = []
    monkeypatch.setattr(reminder_tasks, "publish", lambda task: sent.append(task.name) or True)
    return sent


def test_it_sends_a_bulk_follow_up_as_one_digest_per_recipient(
    people, clock, client, django_capture_on_commit_callbacks, monkeypatch
):
    world = people
    cases = [world.case(world.unit_a, deadline=day(30)) for _ in range(3)]
    client.force_login(world.supervisor)
    sent = published(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("cases:bulk"), {
            "action": "follow_up", "cases": [c.pk for c in cases], "note": "请本周内报送进展",
        })  # fmt: skip
    # One delivery task for the whole bulk action.
    assert sent == [reminder_tasks.deliver_reminders.name]
    services.deliver()
    (message,) = mail.outbox
    assert all(case.code in message.body for case in cases)


def test_it_publishes_after_a_commit_that_follows_a_rolled_back_follow_up(
    people, clock, django_capture_on_commit_callbacks, monkeypatch
):
    world = people
    case = world.case(world.unit_a, deadline=day(30))
    sent = published(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            case_services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="撤回")
            raise RuntimeError("rolled back")
        case_services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="请报送")
        case_services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="再催")
    assert sent == [reminder_tasks.deliver_reminders.name]


def test_it_runs_one_sweep_and_delivery_from_the_command(people, clock, capsys):
    people.case(people.unit_a, deadline=day(1))
    call_command("send_reminders")
    out = capsys.readouterr().out
    assert "sweep: 1 cases due, 2 reminders" in out and "2 sent" in out
    assert len(mail.outbox) == 1
    call_command("send_reminders", "--date", day(9).isoformat(), "--no-deliver")
    assert Reminder.objects.filter(kind="overdue", status="pending").count() == 2


def test_working_day_reminders_follow_each_units_own_calendar(people, clock, settings):
    from reminders.models import CalendarDay

    settings.REMINDER_WORKING_DAYS = True
    world = people
    # Overdue since Friday 2026-02-27; TODAY is Monday 2026-03-02.
    case_a = world.case(world.unit_a, owner=world.inspector_a, deadline=day(-3))
    case_b = world.case(world.unit_b, owner=world.inspector_b, deadline=day(-3))
    CalendarDay.objects.create(date=TODAY, kind="holiday", unit=world.county_a, name="县庆")
    services.sweep()
    assert not keys(case_a)  # county A is off today, and so is its department
    assert {k[:2] for k in keys(case_b)} == {("overdue", "o0")}
    # Saturday 2026-03-07: nobody works, but unit A made it a working day of its own.
    CalendarDay.objects.create(date=day(5), kind="workday", unit=world.unit_a)
    clock.move_to(moment(day(5)))
    services.sweep()
    assert {k[:2] for k in keys(case_a)} == {("overdue", "o0")}
    assert {k[:2] for k in keys(case_b)} == {("overdue", "o0")}  # nothing new on its day off


# --- A sweep of many steps ------------------------------------------------------------------


def a_mixed_book(world) -> list[Case]:
    """Cases whose reminders go each their own way: the unit's inspectors, an owner below the
    unit, the restricted ledger's supervisor only, a group bot and the supervisors on
    escalation, another county's inspectors."""
    return [
        world.case(world.unit_a, deadline=day(1)),
        world.case(world.unit_a, deadline=day(-15)),
        world.case(world.unit_a, deadline=day(1), owner=world.inspector_a_child),
        world.case(world.unit_a, inspection=world.restricted, deadline=day(-20)),
        world.case(world.unit_b, deadline=day(-3)),
        world.case(world.unit_b, inspection=world.restricted, deadline=day(1)),
        world.case(world.unit_a, deadline=day(7), owner=world.inspector_a),
    ]


def test_a_sweep_in_steps_of_one_case_reminds_as_one_in_a_single_step(
    people, clock, bot, monkeypatch
):
    # What a sweep keeps from step to step (people's scopes, units, inspections, inspectors)
    # changes nothing: steps of one case each write the reminders one step writes.
    webhook_for(people.unit_a, bot)
    webhook_for(people.commission, bot)
    a_mixed_book(people)
    services.sweep()
    in_one_step = keys()
    assert ("escalation", "e0", "supervisor", "in_app") in in_one_step
    Reminder.objects.all().delete()
    monkeypatch.setattr(services, "_CHUNK", 1)
    services.sweep()
    assert keys() == in_one_step


def test_a_sweep_step_costs_the_same_queries_for_more_cases(
    people, clock, django_assert_num_queries
):
    # Recipients, their scopes, units and inspections are read for a step's cases together:
    # twice the cases (more units, owners and people) is not more queries.
    a_mixed_book(people)
    with CaptureQueriesContext(connection) as fewer:
        services.sweep()
    Reminder.objects.all().delete()
    a_mixed_book(people)
    other = make_unit("乙县另一局", parent=people.county_b)
    make_user(other, "inspector", "inspector_other")
    people.case(other, deadline=day(-2))
    people.case(other, deadline=day(2), owner=make_user(other, "inspector", "owner_other"))
    with django_assert_num_queries(len(fewer.captured_queries)):
        services.sweep()
    assert Reminder.objects.filter(recipient__username="inspector_other").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("outer_transaction", [False, True])
def test_a_sweep_step_commits_without_waiting_for_the_disk_and_only_itself(
    people, clock, monkeypatch, outer_transaction
):
    # synchronous_commit off is the step's own transaction's (SET LOCAL), and only when the
    # step is a transaction of its own: called inside a caller's transaction it leaves that
    # transaction's commit as configured; either way the connection's next transaction (a
    # delivery's claim above all) commits as configured.
    people.case(people.unit_a, deadline=day(1))
    seen_in_step = []

    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    def insert(rows):
        seen_in_step.append(setting())
        return write(rows)

    write = services._insert
    monkeypatch.setattr(services, "_insert", insert)
    assert setting() == "on"
    if outer_transaction:
        with transaction.atomic():
            services.sweep()
            assert setting() == "on"
    else:
        services.sweep()
    assert seen_in_step == ["on" if outer_transaction else "off"]
    assert setting() == "on"
    assert Reminder.objects.exists()
