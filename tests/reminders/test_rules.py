"""The rules, as pure functions of the deadline and the day, for every boundary; and the
working-day calendar with holidays and make-up working days (调休)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from reminders.calendar import CalendarDays, WorkCalendar, is_working_day
from reminders.rules import Due, Policy, describe_window, reminder_due, window_deadline

POLICY = Policy(due_soon_days=(7, 1), overdue_every=7, escalation_after=14)
DAYS = CalendarDays()
TODAY = date(2026, 3, 2)
# The national calendar alone (chinesecalendar), without the site's overrides or a database.
SHIPPED = WorkCalendar(load=False)


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


# Facts from the State Council's notices, not from the library: the library must agree.
# 国办发明电〔2024〕12号 (2025): Spring Festival off 01-28 to 02-04, worked Sun 01-26 and Sat
# 02-08; National Day and Mid-Autumn off 10-01 to 10-08, worked Sun 09-28 and Sat 10-11.
# 国办发明电〔2025〕7号 (2026): New Year off 01-01 to 01-03, worked Sun 01-04; Spring Festival
# off 02-15 to 02-23, worked Sat 02-14 and Sat 02-28; Labour Day off 05-01 to 05-05, worked
# Sat 05-09; National Day off 10-01 to 10-07, worked Sun 09-20 and Sat 10-10.
NOTICE_DAYS_OFF = [date(2025, 1, 28), date(2025, 2, 4), date(2025, 10, 1), date(2025, 10, 8),
                   date(2026, 1, 1), date(2026, 1, 2), date(2026, 2, 16), date(2026, 2, 23),
                   date(2026, 5, 5), date(2026, 10, 7)]  # fmt: skip
NOTICE_MAKE_UP_DAYS = [date(2025, 1, 26), date(2025, 2, 8), date(2025, 9, 28), date(2025, 10, 11),
                       date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
                       date(2026, 9, 20), date(2026, 10, 10)]  # fmt: skip


def test_it_follows_the_state_councils_2025_and_2026_notices():
    assert all(day.weekday() >= 5 for day in NOTICE_MAKE_UP_DAYS)  # weekend days, worked
    assert [day for day in NOTICE_MAKE_UP_DAYS if not SHIPPED.is_working(day)] == []
    assert [day for day in NOTICE_DAYS_OFF if SHIPPED.is_working(day)] == []
    assert SHIPPED.is_working(date(2026, 1, 5)) and not SHIPPED.is_working(date(2026, 1, 10))


def test_a_year_the_library_does_not_cover_counts_monday_to_friday(caplog):
    # chinesecalendar raises NotImplementedError for such a year: no exception reaches a sweep.
    far = WorkCalendar(load=False)
    assert far.is_working(date(2100, 2, 1))  # a Monday
    assert not far.is_working(date(2100, 2, 6))  # a Saturday
    assert far.between(date(2100, 2, 1), date(2100, 2, 8)) == 5
    assert "no holiday schedule for 2100" in caplog.text


@pytest.mark.django_db
def test_the_sites_overrides_come_before_the_national_calendar():
    from reminders.models import CalendarDay

    assert not CalendarDay.objects.exists()  # nothing ships: the library is the calendar
    CalendarDay.objects.create(date=date(2026, 3, 9), kind="holiday", name="地方假日")
    # The notice makes 2026-02-28 (Sat) a working day; this site gives it off.
    CalendarDay.objects.create(date=date(2026, 2, 28), kind="holiday", name="本地调整")
    CalendarDay.objects.create(date=date(2100, 2, 6), kind="workday", name="2100年调休")
    calendar = WorkCalendar()
    assert not calendar.is_working(date(2026, 3, 9))  # a Monday
    assert not calendar.is_working(date(2026, 2, 28))
    assert calendar.is_working(date(2100, 2, 6))  # a Saturday, beyond the library
    assert calendar.is_working(date(2026, 2, 14))  # the library still answers the rest
    assert not calendar.is_working(date(2026, 10, 5))
    # The same answers one day at a time.
    assert not is_working_day(date(2026, 3, 9)) and is_working_day(date(2100, 2, 6))
    assert is_working_day(date(2026, 3, 10)) and not is_working_day(date(2026, 1, 1))


@pytest.mark.django_db
def test_the_migration_removes_only_the_rows_it_used_to_ship():
    from importlib import import_module

    from django.apps import apps
    from django.db import connection

    from reminders.models import CalendarDay

    migration = import_module("reminders.migrations.0003_drop_shipped_holidays")
    source_2026 = migration.SOURCES[2026]
    CalendarDay.objects.create(date=date(2026, 2, 14), kind="workday", name="春节调休",
                               source=source_2026)  # as shipped  # fmt: skip
    CalendarDay.objects.create(date=date(2026, 2, 15), kind="holiday", name="春节",
                               source="本市通知")  # edited by an admin  # fmt: skip
    CalendarDay.objects.create(date=date(2026, 3, 9), kind="holiday", name="地方假日")
    with connection.schema_editor() as editor:
        migration.remove_shipped(apps, editor)
    assert sorted(CalendarDay.objects.values_list("date", flat=True)) == [
        date(2026, 2, 15), date(2026, 3, 9),
    ]  # fmt: skip


@pytest.mark.django_db
def test_a_units_own_overrides_apply_to_its_subtree_and_the_nearest_wins(world):
    from reminders.models import CalendarDay

    monday, saturday = date(2026, 3, 9), date(2026, 3, 7)
    CalendarDay.objects.create(date=monday, kind="holiday", unit=world.county_a, name="县庆")
    CalendarDay.objects.create(date=monday, kind="workday", unit=world.unit_a_child)
    CalendarDay.objects.create(date=saturday, kind="workday", name="全市调休")
    CalendarDay.objects.create(date=saturday, kind="holiday", unit=world.unit_b)
    site = WorkCalendar()
    county_a, unit_a = site.for_unit(world.county_a), site.for_unit(world.unit_a)
    child, unit_b = site.for_unit(world.unit_a_child), site.for_unit(world.unit_b)
    # The county's holiday is its departments' too, unless one nearer down works that day.
    assert site.is_working(monday) and unit_b.is_working(monday)
    assert not county_a.is_working(monday) and not unit_a.is_working(monday)
    assert child.is_working(monday)
    # The site's working Saturday is everyone's but the unit that gave it off.
    assert unit_a.is_working(saturday) and child.is_working(saturday)
    assert not unit_b.is_working(saturday)
    assert unit_a.between(date(2026, 3, 6), date(2026, 3, 10)) == 2  # Sat, Tue
    assert child.between(date(2026, 3, 6), date(2026, 3, 10)) == 3  # Sat, Mon, Tue
    # One day at a time, and the calendars a sweep must consider.
    assert not is_working_day(monday, unit=world.unit_a) and is_working_day(monday)
    assert len(site.variants(monday)) == 4  # the site's, county A's, its child's, unit B's
    with pytest.raises(Exception, match="calendar_day_unit_once"):
        CalendarDay.objects.create(date=monday, kind="workday", unit=world.county_a)


def test_a_deadline_on_a_day_off_is_due_on_the_next_working_day():
    """As the lights count it (cases.lights): due 10-01 (国庆) is due 10-08 in working days."""
    policy = Policy(due_soon_days=(7, 1), working_days=True)
    assert SHIPPED.due_day(date(2026, 10, 1)) == date(2026, 10, 8)
    assert SHIPPED.due_day(date(2026, 10, 10)) == date(2026, 10, 10)  # 调休 Saturday: worked
    # On 10-08 it is due today, not overdue; the first overdue reminder comes on 10-09.
    assert reminder_due(date(2026, 10, 1), date(2026, 10, 8), policy, SHIPPED) == Due(
        "due_soon", "2026-10-01/d1"
    )
    assert reminder_due(date(2026, 10, 1), date(2026, 10, 9), policy, SHIPPED) == Due(
        "overdue", "2026-10-01/o0"
    )
    # On 09-30 it is one working day away (10-08): the one-day reminder.
    assert reminder_due(date(2026, 10, 1), date(2026, 9, 30), policy, SHIPPED) == Due(
        "due_soon", "2026-10-01/d1"
    )
    # Calendar days: overdue on 10-02 as before.
    assert reminder_due(date(2026, 10, 1), date(2026, 10, 2), Policy(), DAYS) == Due(
        "overdue", "2026-10-01/o0"
    )
