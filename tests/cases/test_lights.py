"""The deadline light is one rule (cases.lights), and every place that shows it agrees.

On a few hundred cases drawn across units, with deadlines on both sides of every bound of the
rule, unit by unit and at both levels: the dashboard's red/yellow/green and completion figures
(read from the roll-ups, and counted when the roll-ups are not current), the completion API,
the list API's light filter and each listed case's light, and the Excel export's rows all give
the same numbers as the cases' own lights. And the due-soon window follows its setting: after a
change every one of them counts by the new window (no trigger keeps the old one), a GET
rebuilds nothing, and beat's run rebuilds the roll-ups and their snapshots.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cases import lights, services, tally
from cases.completion import Selection, figures
from cases.models import Case, CompletionSnapshot, CompletionTally, Inspection, TallyDay
from cases.tasks import maintain_tally
from cases.workflow import DONE_STATES, Role, Status
from reminders.calendar import CalendarDays, WorkCalendar
from reminders.models import CalendarDay
from tests.factories import days, drive_to, make_case, make_inspection, make_unit, make_user
from tests.ledgers.helpers import export_workbook, ledger_rows

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

LEVELS = ("problem", "item")
# Not the 7 days that migration 0006 froze into its triggers.
WINDOW = 3


# --- The rule itself, in its three renderings ---------------------------------------------


def test_the_rule_places_every_day_around_its_bounds(db):
    today = timezone.localdate()
    for window in (0, 2, 7):
        expected = {-2: "red", -1: "red", 0: "yellow", window: "yellow", window + 1: "green"}
        for left, light in expected.items():
            assert lights.light_of("open", today + timedelta(days=left), today, window) == light
            assert lights.light_of("completed", today + timedelta(days=left), today, window) == (
                "green"
            )


def _sql_lights(rows: list[tuple[str, int]], window: int) -> list[str]:
    """The SQL rendering's light of each (status, days left), computed by PostgreSQL."""
    cases = " ".join(
        f"WHEN {lights.light_sql(light, status='s', deadline='d', day='t', window='w')}"
        f" THEN '{light}'"
        for light in lights.LIGHTS
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT CASE {cases} END FROM (SELECT s, t + n AS d, t, w FROM"  # noqa: S608
            " unnest(%s::text[], %s::int[]) AS v(s, n),"
            " (SELECT %s::date AS t, %s::integer AS w) AS p) AS q",
            [[s for s, _n in rows], [n for _s, n in rows], timezone.localdate(), window],
        )
        return [row[0] for row in cursor.fetchall()]


def test_python_q_and_sql_renderings_give_every_case_the_same_light(world):
    today = timezone.localdate()
    rows = [(status, left) for status in ("open", "completed") for left in range(-3, 11)]
    cases = {}
    for status, left in rows:
        case = world.case(deadline=today + timedelta(days=left))
        cases[status, left] = drive_to(case, status, world.supervisor)
    for window in (0, 3, 7):
        python = [lights.light_of(s, today + timedelta(days=n), today, window) for s, n in rows]
        by_q = {
            pk: light
            for light in lights.LIGHTS
            for pk in Case.objects.filter(lights.light_q(light, today, window=window)).values_list(
                "pk", flat=True
            )
        }
        assert [by_q[cases[row].pk] for row in rows] == python, window
        assert _sql_lights(rows, window) == python, window
        assert {light for light, _label in lights.CHOICES} == set(lights.LIGHTS)


# --- Every surface, unit by unit, on generated data ---------------------------------------


def working_day_inspection(world) -> Inspection:
    inspection = make_inspection(world.commission, code=f"W-{Inspection.objects.count()}")
    Inspection.objects.filter(pk=inspection.pk).update(working_days=True)
    inspection.refresh_from_db()
    return inspection


class Ledger:
    """Cases across leaf units (so a unit's filter, its inspector's scope and its rows in a
    grouping all hold the same cases), each unit with an inspector to see its dashboard; of
    two inspections, one counting calendar days and one working days."""

    def __init__(self, world):
        self.world = world
        self.inspections = [world.inspection, working_day_inspection(world)]
        county_b_second = make_unit("乙县二局", parent=world.county_b)
        self.units = [world.unit_a_child, world.unit_b, world.city_dept_child, county_b_second]
        self.inspectors = {
            unit.pk: make_user(unit, Role.INSPECTOR, f"lights_{unit.pk}") for unit in self.units
        }
        self.random = random.Random(15)

    def draw(self, count: int, *, window: int, beyond: int = 4) -> None:
        """`count` cases; deadlines from 6 days late to `beyond` past the window; some
        items."""
        pick = self.random
        for _n in range(count):
            unit = pick.choice(self.units)
            inspection = pick.choice(self.inspections)
            case = self.world.case(
                unit, inspection=inspection, deadline=days(pick.randint(-6, window + beyond))
            )
            if pick.random() < 0.1:  # a problem with items: counted through them at item level
                for _i in range(pick.randint(1, 3)):
                    item = self.world.case(
                        unit,
                        inspection=inspection,
                        parent=case,
                        deadline=days(pick.randint(-6, window + beyond)),
                    )
                    self.move(item)
            else:
                self.move(case)

    def move(self, case: Case) -> None:
        status = self.random.choice([*Status.values, "open", "in_progress"])
        drive_to(case, status, self.world.supervisor)


def _expected(units) -> dict[tuple[int, str], dict]:
    """Per (unit, level), from the cases' own lights (Case.light) and states."""
    expected = {}
    for unit in units:
        for level in LEVELS:
            cases = Case.objects.filter(responsible_unit=unit)
            cases = cases.filter(parent__isnull=True) if level == "problem" else cases
            cases = cases.filter(items_total=0) if level == "item" else cases
            done = [case for case in cases if case.status in DONE_STATES]
            expected[unit.pk, level] = {
                "lights": dict(Counter(case.light() for case in cases)),
                "total": len(cases),
                "done": len(done),
                "on_time": sum(1 for case in done if not case.overdue_at_close),
                "overdue": sum(1 for case in cases if case.light() == "red"),
            }
    return expected


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {light: n for light, n in counts.items() if n}


def _completion(row: dict) -> dict:
    """A completion row (dashboard or API) as the expected figures."""
    done = row["done"]
    on_time = round(row["on_time_rate"] * done) if row["on_time_rate"] is not None else 0
    return {"total": row["total"], "done": done, "on_time": on_time, "overdue": row["overdue"]}


def _dashboard(client, user, level: str) -> dict:
    client.force_login(user)
    response = client.get(reverse("cases:dashboard"), {"level": level})
    assert response.status_code == 200
    return response.context["figures"]


def _list_count(api, **params) -> int:
    response = api.get("/api/v1/cases/", {"page_size": 200, **params})
    assert response.status_code == 200, response.content
    body = response.json()
    assert all(row["light"] == params["light"] for row in body["results"])
    return body["count"]


def assert_every_surface_agrees(client, world, ledger) -> None:
    expected = _expected(ledger.units)
    api = APIClient()
    api.force_authenticate(world.supervisor)
    for level in LEVELS:
        completion = api.get("/api/v1/stats/completion/", {"group_by": "unit", "level": level})
        api_rows = {row["key"]: row for row in completion.json()["rows"]}
        units = _dashboard(client, world.supervisor, level)["units"]["rows"]
        league = {row["key"]: row for row in units}
        exported = defaultdict(Counter)
        done_labels = {str(Status(state).label) for state in DONE_STATES}
        for row in ledger_rows(export_workbook(world.supervisor, f"level={level}")):
            exported[row["责任单位"], "light"][row["红黄绿灯"]] += 1
            exported[row["责任单位"], "done"][row["整改状态"] in done_labels] += 1
        labels = {light: str(label) for light, label in lights.CHOICES}
        for unit in ledger.units:
            want = expected[unit.pk, level]
            where = (unit.name, level, want)
            figures_of_unit = {k: want[k] for k in ("total", "done", "on_time", "overdue")}
            # The dashboard as the unit's inspector sees it: its lights and its total.
            own = _dashboard(client, ledger.inspectors[unit.pk], level)
            assert _nonzero({i["light"]: i["count"] for i in own["lights"]}) == want["lights"], (
                where
            )
            assert _completion(own["total"]) == figures_of_unit, where
            # The supervisor's dashboard league and the completion API, the unit's row.
            assert _completion(league[unit.pk]) == figures_of_unit, where
            assert _completion(api_rows[unit.pk]) == figures_of_unit, where
            assert league[unit.pk]["rate"] == api_rows[unit.pk]["rate"], where
            # The list API's light filter for the unit.
            listed = {
                light: _list_count(api, light=light, responsible_unit=unit.pk, level=level)
                for light in lights.LIGHTS
            }
            assert _nonzero(listed) == want["lights"], where
            # The Excel export's rows of the unit.
            in_export = exported[unit.name, "light"]
            assert {light: in_export[labels[light]] for light in want["lights"]} == want["lights"]
            assert sum(in_export.values()) == want["total"], where
            assert exported[unit.name, "done"][True] == want["done"], where


def test_every_surface_shows_the_same_lights_unit_by_unit(client, world, settings):
    settings.DUE_SOON_DAYS = WINDOW
    tally.refresh()  # beat's build: from here on every write adds its delta
    ledger = Ledger(world)
    ledger.draw(220, window=WINDOW)
    assert tally.current_day() == timezone.localdate()  # the dashboard reads the roll-ups
    assert CompletionTally.objects.exists()
    assert_every_surface_agrees(client, world, ledger)
    # Counted from the cases instead (the roll-ups not built): the same.
    TallyDay.objects.all().delete()
    assert_every_surface_agrees(client, world, ledger)


def _tally_state() -> tuple:
    return (
        list(TallyDay.objects.values_list("day", "due_soon_days", "time_zone")),
        CompletionTally.objects.count(),
        list(CompletionSnapshot.objects.order_by("pk").values_list("pk", flat=True)),
    )


def assert_snapshot_exact(world, day) -> None:
    """The figures as of `day` from the roll-ups equal those counted from the history."""
    selection = Selection(world.supervisor)
    assert tally.has_snapshot(day)
    for level in LEVELS:
        options = {"group_by": "unit", "level": level, "as_of": day}
        rolled_up, counted = figures(selection, **options), figures(selection.cases(), **options)
        assert _groups(rolled_up) == _groups(counted), level


def _groups(found: dict) -> dict:
    return {key: counts for key, (_name, counts) in found.items() if any(counts.values())}


def test_a_changed_window_reaches_every_surface_once_beat_has_run(client, world, settings):
    settings.DUE_SOON_DAYS = 7
    ledger = Ledger(world)
    # Cases of last week, with deadlines on both sides of both windows as of yesterday.
    for offset in range(-2, 9):
        make_case(world.supervisor, world.inspection, world.unit_b, deadline=days(offset),
                  at=timezone.now() - timedelta(days=5))  # fmt: skip
    ledger.draw(60, window=7)
    maintain_tally()
    yesterday = timezone.localdate() - timedelta(days=1)
    assert_snapshot_exact(world, yesterday)
    assert_every_surface_agrees(client, world, ledger)

    settings.DUE_SOON_DAYS = WINDOW
    # Until beat runs, the roll-ups and snapshots (of the old window) are not used, and no GET
    # rebuilds them: the figures are counted by the new window.
    before = _tally_state()
    assert tally.current_day() is None
    assert CompletionSnapshot.objects.filter(day=yesterday).exists()
    assert not tally.has_snapshot(yesterday)
    assert_every_surface_agrees(client, world, ledger)
    assert _tally_state() == before

    maintain_tally()
    assert TallyDay.objects.get().due_soon_days == WINDOW
    assert tally.current_day() == timezone.localdate()
    # Yesterday's snapshot was dropped and made again, by the new window.
    assert not set(before[2]) & set(CompletionSnapshot.objects.values_list("pk", flat=True))
    assert_snapshot_exact(world, yesterday)
    # Written after beat's rebuild: the triggers count them by the new window.
    ledger.draw(60, window=WINDOW)
    later = Case.objects.filter(parent__isnull=True, items_total=0, status="open")
    for case in later.order_by("pk")[:20]:
        ledger.move(case)
    for case in later.order_by("pk")[:10]:  # still open: a longer deadline
        services.case_extend_deadline(
            actor=world.supervisor,
            case_id=case.pk,
            deadline=case.deadline + timedelta(days=3),
            reason="延期",
        )
    assert tally.current_day() == timezone.localdate()  # the dashboard reads the roll-ups
    assert_every_surface_agrees(client, world, ledger)


# --- Working days: the boundaries, and every surface across a holiday -----------------------
# 2026 (国办发明电〔2025〕7号): 中秋 off Fri 09-25; National Day off 10-01 to 10-07, worked
# Sun 09-20 and Sat 10-10; Spring Festival off 02-15 to 02-23, worked Sat 02-14 and 02-28.
SHIPPED = WorkCalendar(load=False)  # the national calendar alone, no database
D = date


def _by_definition(status: str, deadline: date, today: date, window: int, cal) -> str:
    """The rule as the issue words it, day by day: a deadline on a day off is due on the next
    working day; red once that day is past; yellow when it is within the next `window`
    working days (today included); else green."""
    if status in DONE_STATES:
        return "green"
    due = cal.due_day(deadline)
    if due < today:
        return "red"
    return "yellow" if cal.between(today, due) <= window else "green"


@pytest.mark.parametrize(
    ("today", "window", "red", "soon"),
    [
        # Tuesday before National Day: 3 working days are 09-30, 10-08, 10-09.
        (D(2026, 9, 29), 3, D(2026, 9, 28), D(2026, 10, 9)),
        # Friday before the make-up Saturday: 10-10 (worked), 10-12, 10-13.
        (D(2026, 10, 9), 3, D(2026, 10, 8), D(2026, 10, 13)),
        # On a holiday: red up to the last working day (09-30); 10-08 is 1 working day away.
        (D(2026, 10, 3), 1, D(2026, 9, 30), D(2026, 10, 8)),
        (D(2026, 10, 3), 0, D(2026, 9, 30), D(2026, 9, 30)),  # nothing due "today"
        (D(2026, 9, 30), 0, D(2026, 9, 29), D(2026, 9, 30)),
        # The Sunday after the make-up Saturday: that Saturday was the last working day.
        (D(2026, 10, 11), 2, D(2026, 10, 10), D(2026, 10, 13)),
        # Spring Festival: from Fri 02-13, the make-up Saturday 02-14 then 02-24.
        (D(2026, 2, 13), 1, D(2026, 2, 12), D(2026, 2, 14)),
        (D(2026, 2, 13), 2, D(2026, 2, 12), D(2026, 2, 24)),
        (D(2026, 2, 24), 0, D(2026, 2, 14), D(2026, 2, 24)),
    ],
)
def test_working_day_boundaries_around_holidays(today, window, red, soon):
    assert lights.bounds_on(today, window, SHIPPED) == lights.Bounds(red=red, soon=soon)
    # Calendar days: the day before, and the day plus the window, whatever the holidays.
    calendar = lights.bounds_on(today, window, CalendarDays())
    assert calendar == lights.Bounds(today - timedelta(days=1), today + timedelta(days=window))


def test_the_boundaries_give_the_rule_as_worded_for_every_day_and_deadline():
    """Brute force over two holiday seasons: the two boundary dates (what SQL and filters
    compare) place every deadline as the worded rule does, in both ways of counting."""
    for start in (D(2026, 9, 15), D(2026, 2, 5)):
        for offset in range(30):
            today = start + timedelta(days=offset)
            for window in (0, 1, 3, 7):
                for cal in (SHIPPED, CalendarDays()):
                    bounds = lights.bounds_on(today, window, cal)
                    for shift in range(-12, 25):
                        deadline = today + timedelta(days=shift)
                        got = lights.light_by("open", deadline, bounds)
                        want = _by_definition("open", deadline, today, window, cal)
                        assert got == want, (today, window, deadline, cal.working_days)


def test_days_overdue_count_from_the_day_a_deadline_is_due():
    # Due 10-01 (a holiday): due on 10-08, so 0 working days late that day, 1 on 10-09.
    assert SHIPPED.days_late(D(2026, 10, 1), D(2026, 10, 8)) == 0
    assert SHIPPED.days_late(D(2026, 10, 1), D(2026, 10, 9)) == 1
    # Due 09-29: 09-30, 10-08, 10-09 have passed by 10-09 (10 calendar days).
    assert SHIPPED.days_late(D(2026, 9, 29), D(2026, 10, 9)) == 3
    assert CalendarDays().days_late(D(2026, 9, 29), D(2026, 10, 9)) == 10
    # Red on a holiday, yet no working day has passed since the deadline.
    assert SHIPPED.days_late(D(2026, 9, 30), D(2026, 10, 5)) == 0
    assert lights.light_by("open", D(2026, 9, 30), lights.bounds_on(D(2026, 10, 5), 3, SHIPPED))
    assert SHIPPED.days_late(D(2026, 10, 20), D(2026, 10, 9)) == 0  # not due yet


def _travel(day: date):
    return time_machine.travel(timezone.make_aware(datetime.combine(day, time(10, 0))), tick=False)


@pytest.mark.parametrize("day", [D(2026, 9, 29), D(2026, 10, 9), D(2026, 2, 13)])
def test_every_surface_agrees_on_working_day_lights_across_a_holiday(client, world, settings,
                                                                     day):  # fmt: skip
    settings.DUE_SOON_DAYS = WINDOW
    with _travel(day):
        tally.refresh()
        ledger = Ledger(world)
        ledger.draw(160, window=WINDOW, beyond=12)
        assert tally.current_day() == day
        # The two ways of counting differ on this day, and both kinds of case are drawn.
        found = lights.day_bounds(day, WINDOW)
        assert found.working != found.calendar
        working = Case.objects.filter(inspection__working_days=True)
        assert working.exists() and Case.objects.filter(inspection__working_days=False).exists()
        # Some working-day cases have a light the calendar would not give them.
        differ = [
            case for case in working
            if case.light() != lights.light_of(case.status, case.deadline, day, WINDOW)
        ]  # fmt: skip
        assert differ
        assert_every_surface_agrees(client, world, ledger)  # the triggers' deltas
        tally.refresh()  # rebuilt from the cases in one statement: the same
        assert_every_surface_agrees(client, world, ledger)
        TallyDay.objects.all().delete()  # counted from the cases: the same
        assert_every_surface_agrees(client, world, ledger)


def test_lights_of_a_working_day_case_before_national_day(world, settings):
    settings.DUE_SOON_DAYS = WINDOW
    working = working_day_inspection(world)
    expected = {  # deadline: (calendar days, working days) on Tuesday 09-29
        D(2026, 9, 26): ("red", "red"),  # a Saturday: due Monday 09-28, past
        D(2026, 9, 28): ("red", "red"),
        D(2026, 9, 29): ("yellow", "yellow"),
        D(2026, 10, 2): ("yellow", "yellow"),  # due 10-08, the 2nd working day
        D(2026, 10, 5): ("green", "yellow"),
        D(2026, 10, 9): ("green", "yellow"),  # the 3rd working day
        D(2026, 10, 10): ("green", "green"),  # the make-up Saturday: the 4th
    }
    with _travel(D(2026, 9, 29)):
        for deadline, (by_calendar, by_working) in expected.items():
            plain = world.case(deadline=deadline)
            counted = world.case(inspection=working, deadline=deadline)
            assert (plain.light(), counted.light()) == (by_calendar, by_working), deadline
            for case, light in ((plain, by_calendar), (counted, by_working)):
                # Its own light's filter holds it, and no other's (each filter bounds the
                # deadline by both calendars' range too: cases.lights.light_q).
                found = {
                    other for other in lights.LIGHTS
                    if Case.objects.filter(lights.light_q(other), pk=case.pk).exists()
                }  # fmt: skip
                assert found == {light}, (deadline, case.inspection.working_days)


def test_the_on_time_flag_counts_a_holiday_deadline_from_the_next_working_day(world):
    working = working_day_inspection(world)
    with _travel(D(2026, 9, 28)):
        plain = world.case(deadline=D(2026, 10, 3))
        counted = world.case(inspection=working, deadline=D(2026, 10, 3))
        late = world.case(inspection=working, deadline=D(2026, 10, 3))
    with _travel(D(2026, 10, 8)):  # the first working day after the holiday: on time
        plain, counted = (
            drive_to(case, "completed", world.supervisor) for case in (plain, counted)
        )
        assert plain.overdue_at_close is True  # calendar days: 5 days late
        assert counted.overdue_at_close is False
    with _travel(D(2026, 10, 9)):
        assert drive_to(late, "completed", world.supervisor).overdue_at_close is True


def test_the_dashboard_counts_days_overdue_in_working_days(client, world):
    working = working_day_inspection(world)
    with _travel(D(2026, 9, 20)):
        plain = world.case(deadline=D(2026, 9, 29))
        counted = world.case(inspection=working, deadline=D(2026, 9, 29))
    with _travel(D(2026, 10, 9)):
        client.force_login(world.supervisor)
        response = client.get(reverse("cases:dashboard"))
        shown = {case.pk: case.days_overdue for case in response.context["overdue"]}
        assert shown == {plain.pk: 10, counted.pk: 3}
        assert "3 个工作日" in response.content.decode()
        page = client.get(reverse("cases:detail", args=[counted.pk])).content.decode()
        assert "3 个工作日" in page


def test_a_changed_calendar_day_or_flag_reaches_every_surface(client, world, settings):
    settings.DUE_SOON_DAYS = WINDOW
    with _travel(D(2026, 9, 29)):
        ledger = Ledger(world)
        ledger.draw(80, window=WINDOW, beyond=12)
        maintain_tally()
        assert tally.current_day() == D(2026, 9, 29)
        # The site makes 09-30 a day off: the working-day boundaries move.
        CalendarDay.objects.create(date=D(2026, 9, 30), kind="holiday", name="调整")
        assert lights.day_bounds().working.soon == D(2026, 10, 10)
        before = _tally_state()
        assert tally.current_day() is None  # readers count, by the new calendar
        assert_every_surface_agrees(client, world, ledger)
        assert _tally_state() == before  # and no GET rebuilt anything
        maintain_tally()
        assert TallyDay.objects.get().work_soon == D(2026, 10, 10)
        assert tally.current_day() == D(2026, 9, 29)
        assert_every_surface_agrees(client, world, ledger)
        # An inspection that starts counting working days: its cases' lights move in the
        # roll-ups in the same transaction (a trigger), and its snapshots are dropped.
        Inspection.objects.filter(pk=world.inspection.pk).update(working_days=True)
        assert tally.current_day() == D(2026, 9, 29)
        assert_every_surface_agrees(client, world, ledger)
        Inspection.objects.filter(pk=world.inspection.pk).update(working_days=False)
        assert_every_surface_agrees(client, world, ledger)


def test_past_days_snapshots_count_working_days_as_of_that_day(client, world, settings):
    settings.DUE_SOON_DAYS = WINDOW
    with _travel(D(2026, 9, 29)):
        ledger = Ledger(world)
        ledger.draw(80, window=WINDOW, beyond=12)
    with _travel(D(2026, 10, 9)):
        maintain_tally()
        for day in (D(2026, 10, 8), D(2026, 10, 3), D(2026, 9, 30)):
            tally.ensure_snapshot(day)
            assert_snapshot_exact(world, day)
        assert_every_surface_agrees(client, world, ledger)
