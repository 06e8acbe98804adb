"""The completion roll-ups (cases.tally) always equal a fresh count of the cases.

Every kind of write is made through the services, then the figures read from the roll-ups
are compared with the figures counted from the cases and their history (cases.completion's
live path), for every persona, grouping, level, now and as of past days. The maintained
item counters of problems are compared with a fresh count too.
"""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import selectors, services, tally
from cases.completion import Selection, completion_trend, figures
from cases.models import Case, CompletionSnapshot, CompletionTally
from cases.tasks import maintain_tally
from cases.workflow import DONE_STATES
from tests.factories import days, drive_to, make_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PERSONAS = (
    "supervisor",
    "api_reader",
    "inspector_a",
    "inspector_a_child",
    "inspector_b",
    "county_a_supervisor",
    "no_unit",
    "admin",
)


@pytest.fixture(autouse=True)
def built_tally(db):
    """Beat builds the tally (a read never does): from then on every write adds its delta."""
    tally.refresh()


def _nonzero(groups):
    return {key: counts for key, (_name, counts) in groups.items() if any(counts.values())}


def assert_tally_exact(world, *, as_of_days=(1,)):
    """Roll-ups == fresh count, for everyone and every way of looking; item counters too."""
    today = timezone.localdate()
    assert tally.current_day() == today  # the figures below are read from the roll-ups
    for n in as_of_days:
        tally.ensure_snapshot(today - timedelta(days=n))  # what beat builds
    for persona in PERSONAS:
        user = getattr(world, persona)
        selections = [Selection(user)]
        if persona in ("supervisor", "inspector_a"):
            selections.append(Selection(user, inspection_ids=(world.inspection.pk,)))
            selections.append(Selection(user, region_id=world.county_a.pk))
        for selection in selections:
            for as_of in (None, *(today - timedelta(days=n) for n in as_of_days)):
                for level in ("problem", "item"):
                    for group_by in (None, "inspection", "unit", "region"):
                        options = {"group_by": group_by, "level": level, "as_of": as_of}
                        tallied = _nonzero(figures(selection, **options))
                        counted = _nonzero(figures(selection.cases(), **options))
                        assert tallied == counted, (persona, selection, options)
    fresh = Case.objects.filter(parent__isnull=True).annotate(
        n=Count("items"), n_done=Count("items", filter=Q(items__status__in=DONE_STATES))
    )
    for problem in fresh:
        assert (problem.items_total, problem.items_done) == (problem.n, problem.n_done)


@pytest.fixture
def ledger(world):
    """A few cases in several units, states and deadlines, one with items, some in the past."""
    long_ago = timezone.now() - timedelta(days=20)
    with time_machine.travel(long_ago):
        old = world.case(deadline=days(3), title="旧问题")
    cases = {
        "old": old,
        "problem": world.case(deadline=days(10), title="有事项的问题"),
        "b": world.case(unit=world.unit_b, deadline=days(-2), title="乙县问题"),
        "child": world.case(unit=world.unit_a_child, deadline=days(2), title="股室问题"),
        "dept": world.case(unit=world.city_dept, deadline=days(40), title="市局问题"),
        "restricted": world.case(inspection=world.restricted, deadline=days(-1), title="线索"),
    }
    cases["item1"] = world.case(parent=cases["problem"], deadline=days(5), title="事项一")
    cases["item2"] = world.case(parent=cases["problem"], deadline=days(-3), title="事项二")
    return cases


def test_the_roll_ups_equal_a_fresh_count_after_creation(world, ledger):
    assert_tally_exact(world)


def test_every_workflow_move_keeps_the_roll_ups_exact(world, ledger):
    drive_to(ledger["b"], "in_progress", world.supervisor)
    drive_to(ledger["child"], "escalated", world.supervisor)
    drive_to(ledger["dept"], "exempted", world.supervisor)
    drive_to(ledger["item1"], "completed", world.supervisor)
    drive_to(ledger["item2"], "completed", world.supervisor)
    drive_to(ledger["problem"], "completed", world.supervisor)
    assert_tally_exact(world)
    # Reopened: back out of "done", the problem too.
    services.case_transition(
        actor=world.supervisor, case_id=ledger["problem"].pk, to="in_progress", note="重新整改"
    )
    services.case_transition(
        actor=world.supervisor, case_id=ledger["item2"].pk, to="in_progress", note="重新整改"
    )
    services.case_transition(
        actor=world.inspector_b, case_id=ledger["b"].pk, to="submitted", note="已整改"
    )
    services.case_transition(
        actor=world.supervisor, case_id=ledger["b"].pk, to="in_progress", note="退回"
    )
    assert_tally_exact(world)


def test_deadline_changes_reassignment_and_edits_keep_the_roll_ups_exact(world, ledger):
    services.case_extend_deadline(
        actor=world.supervisor, case_id=ledger["b"].pk, deadline=days(4), reason="延期"
    )
    services.case_assign(
        actor=world.supervisor, case_id=ledger["child"].pk, responsible_unit=world.unit_b
    )
    services.case_update_details(actor=world.supervisor, case_id=ledger["dept"].pk, title="改名")
    services.case_follow_up(actor=world.supervisor, case_id=ledger["dept"].pk, note="督办")
    # A problem gaining its first item leaves item level (it is counted through its items).
    world.case(parent=ledger["dept"], deadline=days(1), title="新事项")
    assert_tally_exact(world)


def test_an_inspectors_own_cases_outside_their_unit_are_counted(world, ledger):
    # A case of 甲县局 owned by someone of its sub-unit, who otherwise sees only the sub-unit.
    services.case_assign(
        actor=world.supervisor, case_id=ledger["problem"].pk, owner=world.inspector_a_child
    )
    assert selectors.owned_outside_scope(world.inspector_a_child).count() == 1
    assert_tally_exact(world)


def test_a_new_day_moves_the_lights_and_the_roll_ups_follow(world, ledger):
    tally.ensure_current()
    with time_machine.travel(timezone.now() + timedelta(days=6)):
        assert tally.current_day() != timezone.localdate()
        # Before beat's run on the new day, reads count the cases and build nothing.
        selection = Selection(world.supervisor)
        stale = figures(selection, group_by="unit")
        assert stale == figures(selection.cases(), group_by="unit")
        assert tally.current_day() != timezone.localdate()
        maintain_tally()
        assert_tally_exact(world, as_of_days=(1, 30))


def test_compaction_adds_the_deltas_up_and_keeps_the_figures(world, ledger):
    tally.refresh()  # one row a group
    groups = CompletionTally.objects.count()
    drive_to(ledger["b"], "completed", world.supervisor)
    drive_to(ledger["child"], "in_progress", world.supervisor)
    assert CompletionTally.objects.count() > groups  # each write added delta rows
    tally.compact()
    assert CompletionTally.objects.count() == groups
    assert_tally_exact(world)


def test_back_dated_history_and_reassignment_drop_the_snapshots_they_change(world, ledger):
    yesterday = timezone.localdate() - timedelta(days=1)
    week_ago = timezone.localdate() - timedelta(days=7)
    tally.ensure_snapshot(yesterday)
    tally.ensure_snapshot(week_ago)
    assert set(CompletionSnapshot.objects.values_list("day", flat=True)) == {yesterday, week_ago}

    # Written today: no past day changes.
    drive_to(ledger["child"], "in_progress", world.supervisor)
    assert CompletionSnapshot.objects.filter(day=week_ago).exists()

    # Loaded with a date three days ago: the snapshots from then on are gone.
    three_days_ago = timezone.now() - timedelta(days=3)
    make_case(world.supervisor, world.inspection, world.unit_a, deadline=days(1), at=three_days_ago)
    assert list(CompletionSnapshot.objects.values_list("day", flat=True).distinct()) == [week_ago]
    assert_tally_exact(world)

    tally.ensure_snapshot(week_ago)
    services.case_assign(
        actor=world.supervisor, case_id=ledger["dept"].pk, responsible_unit=world.unit_b
    )
    assert not CompletionSnapshot.objects.exists()
    assert_tally_exact(world)


def test_the_figures_cost_a_fixed_number_of_queries(world, ledger):
    tally.ensure_current()
    tally.ensure_snapshot(timezone.localdate() - timedelta(days=2))

    def count(**options) -> tuple[int, int]:
        """Queries of the first figures of a selection, and of the same figures again."""
        selection = Selection(world.supervisor)  # one a request
        with CaptureQueriesContext(connection) as queries:
            figures(selection, **options)
            first = len(queries)
            figures(selection, **options)  # the day and the scope are read once a selection:
            # again only the sums (and whether an as-of day is built)
        return first, len(queries) - first

    now, past = count(group_by="unit"), count(group_by="unit", as_of=days(-2))
    for i in range(5):
        world.case(unit=world.unit_b, title=f"更多{i}")
    assert (count(group_by="unit"), count(group_by="unit", as_of=days(-2))) == (now, past)
    # The day check, whether the scope is everything, the sums; again: the sums (as of a past
    # day: and whether it is built).
    assert (now, past) == ((3, 1), (3, 2))


def test_the_trend_from_snapshots_equals_a_fresh_count(world, ledger):
    services.case_assign(
        actor=world.supervisor, case_id=ledger["problem"].pk, owner=world.inspector_a_child
    )
    drive_to(ledger["b"], "completed", world.supervisor)
    today = timezone.localdate()
    trend_days = [today - timedelta(days=n) for n in (25, 7, 1, 0)]
    for day in trend_days[:-1]:
        tally.ensure_snapshot(day)  # what beat builds
    for persona in PERSONAS:
        selection = Selection(getattr(world, persona))
        for level in ("problem", "item"):
            tallied = completion_trend(selection, days=trend_days, level=level)
            counted = completion_trend(selection.cases(), days=trend_days, level=level)
            assert tallied == counted, persona
    # Only what is built (and today) is drawn: a read never builds.
    CompletionSnapshot.objects.filter(day=trend_days[0]).delete()
    drawn = completion_trend(Selection(world.supervisor), days=trend_days)
    assert [day for day, _row in drawn] == trend_days[1:]
    assert not CompletionSnapshot.objects.filter(day=trend_days[0]).exists()
