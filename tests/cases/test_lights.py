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
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cases import lights, services, tally
from cases.completion import Selection, figures
from cases.models import Case, CompletionSnapshot, CompletionTally, TallyDay
from cases.tasks import maintain_tally
from cases.workflow import DONE_STATES, Role, Status
from tests.factories import days, drive_to, make_case, make_unit, make_user
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


class Ledger:
    """Cases across leaf units (so a unit's filter, its inspector's scope and its rows in a
    grouping all hold the same cases), each unit with an inspector to see its dashboard."""

    def __init__(self, world):
        self.world = world
        county_b_second = make_unit("乙县二局", parent=world.county_b)
        self.units = [world.unit_a_child, world.unit_b, world.city_dept_child, county_b_second]
        self.inspectors = {
            unit.pk: make_user(unit, Role.INSPECTOR, f"lights_{unit.pk}") for unit in self.units
        }
        self.random = random.Random(15)

    def draw(self, count: int, *, window: int) -> None:
        """`count` cases; deadlines from 6 days late to 4 past the window; some items."""
        pick = self.random
        for _n in range(count):
            unit = pick.choice(self.units)
            case = self.world.case(unit, deadline=days(pick.randint(-6, window + 4)))
            if pick.random() < 0.1:  # a problem with items: counted through them at item level
                for _i in range(pick.randint(1, 3)):
                    item = self.world.case(
                        unit, parent=case, deadline=days(pick.randint(-6, window + 4))
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
