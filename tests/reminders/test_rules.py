"""The rules, as pure functions of the deadline and the day, for every boundary; and the
working-day calendar with holidays and make-up working days (调休)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from reminders.calendar import CalendarDays, WorkCalendar
from reminders.holidays import calendar_days
from reminders.rules import Due, Policy, describe_window, reminder_due, window_deadline

POLICY = Policy(due_soon_days=(7, 1), overdue_every=7, escalation_after=14)
DAYS = CalendarDays()
TODAY = date(2026, 3, 2)
SHIPPED = WorkCalendar({d["date"]: d["kind"] for d in calendar_days()}, load=False)


def due(offset: int, policy: Policy = POLICY) -> Due | None:
    """The reminder due today for a deadline `offset` days from today."""
    return reminder_due(TODAY + timedelta(days=offset), TODAY, policy, DAYS)


@pytest.mark.parametrize(("offset", "window"), [
    (30, None), (8, None), (7, "d7"), (5, "d7"), (2, "d7"), (1, "d1"), (0, "d1"),
])  # fmt: skip
def test_it_reminds_due_soon_once_per_configured_distance(offset, window):
    found = due(offset)
    if window is None:
        assert found is None
    else:
        deadline = TODAY + timedelta(days=offset)
        assert found == Due("due_soon", f"{deadline.isoformat()}/{window}")


@pytest.mark.parametrize(("past", "kind", "period"), [
    (1, "overdue", "o0"), (6, "overdue", "o0"), (7, "overdue", "o0"), (8, "overdue", "o1"),
    (14, "overdue", "o1"), (15, "escalation", "e0"), (21, "escalation", "e0"),
    (22, "escalation", "e1"), (29, "escalation", "e2"), (400, "escalation", "e55"),
])  # fmt: skip
def test_it_reminds_overdue_from_the_first_day_then_weekly_and_escalates_after_14(
    past, kind, period
):
    found = due(-past)
    deadline = TODAY - timedelta(days=past)
    assert found == Due(kind, f"{deadline.isoformat()}/{period}")


def test_it_takes_the_distances_threshold_and_cadence_from_the_policy():
    policy = Policy(due_soon_days=(3, 10, 10), overdue_every=3, escalation_after=5)
    assert policy.due_soon_days == (10, 3)
    assert due(10, policy).window.endswith("/d10")
    assert due(3, policy).window.endswith("/d3")
    assert due(-4, policy).window.endswith("/o1")
    assert due(-6, policy) == Due("escalation", f"{TODAY - timedelta(days=6)}/e0")
    assert due(-9, policy).window.endswith("/e1")
    assert due(5, Policy(due_soon_days=())) is None


def test_it_names_the_deadline_in_the_window_so_an_extension_starts_afresh():
    before = due(1)
    after = reminder_due(TODAY + timedelta(days=7), TODAY, POLICY, DAYS)
    assert before.window != after.window
    assert window_deadline(after.window) == (TODAY + timedelta(days=7)).isoformat()
    assert window_deadline("event-12") is None


def test_it_describes_a_window_for_people():
    assert describe_window("2026-12-07/d7") == "时限 2026-12-07，到期前 7 天"
    assert describe_window("2026-12-07/o0") == "时限 2026-12-07，逾期第 1 轮"
    assert describe_window("2026-12-07/e2") == "时限 2026-12-07，升级督办第 3 轮"
    assert describe_window("event-12") == ""


def test_it_reads_the_policy_from_settings(settings):
    settings.REMINDER_DUE_SOON_DAYS = [5, 2]
    settings.REMINDER_OVERDUE_EVERY_DAYS = 3
    settings.REMINDER_ESCALATION_DAYS = 9
    settings.REMINDER_WORKING_DAYS = True
    settings.REMINDER_REMIND_ESCALATED = True
    assert Policy.from_settings() == Policy((5, 2), 3, 9, True, True)


# --- Working days ----------------------------------------------------------------------------


def test_it_counts_weekends_holidays_and_make_up_days():
    # 2026 Spring Festival: off 02-15 (Sun) to 02-23 (Mon); worked 02-14 (Sat) and 02-28 (Sat).
    assert SHIPPED.is_working(date(2026, 2, 13))  # Friday
    assert SHIPPED.is_working(date(2026, 2, 14))  # Saturday worked in exchange
    assert not SHIPPED.is_working(date(2026, 2, 16))  # Monday, holiday
    assert not SHIPPED.is_working(date(2026, 2, 21))  # Saturday inside the holiday
    assert SHIPPED.is_working(date(2026, 2, 24))
    assert not SHIPPED.is_working(date(2026, 3, 7))  # an ordinary Saturday
    assert SHIPPED.between(date(2026, 2, 12), date(2026, 2, 24)) == 3  # 13th, 14th, 24th
    assert SHIPPED.between(date(2026, 2, 24), date(2026, 2, 12)) == -3
    assert SHIPPED.add(date(2026, 2, 13), 2) == date(2026, 2, 24)


def test_it_counts_reminders_in_working_days():
    policy = Policy(due_soon_days=(7, 1), working_days=True)
    # Due on the Tuesday after the holiday: 3 working days away on Thursday 02-12.
    assert reminder_due(date(2026, 2, 24), date(2026, 2, 12), policy, SHIPPED).window.endswith(
        "/d7"
    )
    # Due Friday 02-13: the make-up Saturday is the first working day past it.
    found = reminder_due(date(2026, 2, 13), date(2026, 2, 14), policy, SHIPPED)
    assert found == Due("overdue", "2026-02-13/o0")
    # The second overdue reminder comes on the 8th working day past it (the 14th, the 24th to
    # the 28th, 03-02, 03-03), not on the 8th calendar day.
    for today, period in ((date(2026, 2, 21), None), (date(2026, 2, 27), "o0"),
                          (date(2026, 3, 2), "o0"), (date(2026, 3, 3), "o1")):  # fmt: skip
        found = reminder_due(date(2026, 2, 13), today, policy, SHIPPED)
        assert (found.window.split("/")[1] if found else None) == period, today


def test_it_reminds_nobody_on_a_day_off_in_working_day_mode():
    policy = Policy(working_days=True)
    assert reminder_due(date(2026, 2, 13), date(2026, 2, 16), policy, SHIPPED) is None
    assert reminder_due(date(2026, 2, 13), date(2026, 3, 7), policy, SHIPPED) is None
    assert reminder_due(date(2026, 2, 13), date(2026, 3, 7), Policy(), DAYS) is not None


def test_it_ships_the_official_2025_and_2026_schedules_and_marks_2027_as_assumed():
    shipped = {d["date"]: d for d in calendar_days()}
    assert len(shipped) == len(calendar_days())  # no day listed twice
    # 2025 National Day and Mid-Autumn: 10-01 to 10-08, worked 09-28 (Sun) and 10-11 (Sat).
    assert all(shipped[date(2025, 10, n)]["kind"] == "holiday" for n in range(1, 9))
    assert shipped[date(2025, 9, 28)]["kind"] == shipped[date(2025, 10, 11)]["kind"] == "workday"
    # Every make-up working day is a weekend day; every shipped day cites its source.
    assert all(d.weekday() >= 5 for d, v in shipped.items() if v["kind"] == "workday")
    assert all(v["source"] for v in shipped.values())
    assert {d.year for d in shipped} == {2025, 2026, 2027}
    assert all("推定" in v["source"] for d, v in shipped.items() if d.year == 2027)
    assert not any("推定" in v["source"] for d, v in shipped.items() if d.year < 2027)


@pytest.mark.django_db
def test_it_reads_the_calendar_admins_maintain():
    from reminders.holidays import load_calendar
    from reminders.models import CalendarDay

    load_calendar(CalendarDay)  # idempotent: the migration has already loaded it
    load_calendar(CalendarDay)
    assert CalendarDay.objects.filter(date__year=2026).count() == sum(
        1 for d in calendar_days() if d["date"].year == 2026
    )
    CalendarDay.objects.create(date=date(2026, 3, 9), kind="holiday", name="地方假日")
    calendar = WorkCalendar()
    assert not calendar.is_working(date(2026, 3, 9))
    assert calendar.is_working(date(2026, 2, 28))
    assert not calendar.is_working(date(2026, 10, 5))
