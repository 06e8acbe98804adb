"""Completion figures at problem and item level, now and as of a past date."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from cases import lights, organisation, services
from cases.completion import completion_rows, completion_total, end_of_day
from cases.errors import InvalidInput
from cases.workflow import Status
from tests.factories import days

pytestmark = pytest.mark.django_db


def _close(world, case, at=None):
    """Started and submitted by the unit's inspector, closed by the commission's supervisor."""
    unit = world.inspector_a
    services.case_transition(actor=unit, case_id=case.pk, to="in_progress", at=at)
    services.case_transition(actor=unit, case_id=case.pk, to="submitted", note="done", at=at)
    return services.case_transition(actor=world.supervisor, case_id=case.pk, to="completed", at=at)


def test_it_counts_a_problem_once_at_problem_level_and_its_items_at_item_level(world):
    problem = world.case(title="一个问题")
    items = [world.case(parent=problem, title=f"事项{i}") for i in range(4)]
    standalone = world.case(title="单独问题")
    for item in items[:3]:
        _close(world, item)
    _close(world, standalone)
    cases = world.inspection.cases.all()

    problem_level = completion_total(cases, level="problem")
    assert (problem_level.total, problem_level.done) == (2, 1)
    assert problem_level.rate == 0.5

    item_level = completion_total(cases, level="item")
    assert (item_level.total, item_level.done) == (5, 4)
    assert item_level.rate == 0.8


def test_it_counts_exempted_as_done(world):
    case = world.case()
    world.case()
    services.case_transition(
        actor=world.supervisor, case_id=case.pk, to="exempted", note="纳入负面清单"
    )
    total = completion_total(world.inspection.cases.all())
    assert (total.done, total.total, total.rate) == (1, 2, 0.5)


def test_it_computes_on_time_rate_from_the_flag_frozen_at_close(world):
    on_time = world.case(deadline=days(5))
    late = world.case(deadline=days(5))
    _close(world, on_time)
    with time_machine.travel(timezone.now() + timedelta(days=10)):
        _close(world, late)
    total = completion_total(world.inspection.cases.all())
    assert (total.done, total.on_time) == (2, 1)
    assert total.on_time_rate == 0.5
    # Extending the deadline later does not change a closed case's on-time record.
    late.refresh_from_db()
    assert late.overdue_at_close is True


def test_it_counts_overdue_open_cases_only(world):
    world.case(deadline=days(-1))
    world.case(deadline=days(0))  # due today: not yet overdue
    done_late = world.case(deadline=days(-3))
    _close(world, done_late)
    assert completion_total(world.inspection.cases.all()).overdue == 1


def test_it_groups_by_inspection_unit_and_region(world):
    other = organisation.inspection_create(
        name="另一检查", kind="special", year=2023, issuing_unit=world.commission
    )
    a = world.case(world.unit_a)
    world.case(world.unit_b)
    world.case(world.city_dept, inspection=other)
    _close(world, a)
    cases = world.supervisor and world.inspection.cases.model.objects.all()

    by_inspection = {r.key: r for r in completion_rows(cases, group_by="inspection")}
    assert by_inspection[world.inspection.pk].total == 2
    assert by_inspection[world.inspection.pk].done == 1
    assert by_inspection[other.pk].total == 1

    by_unit = {r.name: (r.total, r.done) for r in completion_rows(cases, group_by="unit")}
    assert by_unit == {"甲县局": (1, 1), "乙县局": (1, 0), "市局": (1, 0)}

    by_region = {r.name: (r.total, r.done) for r in completion_rows(cases, group_by="region")}
    assert by_region == {"甲县": (1, 1), "乙县": (1, 0), "市本级": (1, 0)}


def test_it_rebuilds_figures_as_of_a_past_date_from_history(world):
    start = timezone.now()
    created = world.case(deadline=days(3))
    later = start + timedelta(days=2)
    _close(world, created, at=later)
    reopened_at = start + timedelta(days=6)
    services.case_transition(
        actor=world.supervisor,
        case_id=created.pk,
        to="in_progress",
        note="复查发现反弹",
        at=reopened_at,
    )
    cases = world.inspection.cases.all()
    today = timezone.localdate()

    def figures(day):
        row = completion_total(cases, as_of=day)
        return row.total, row.done, row.overdue

    assert figures(today - timedelta(days=1)) == (0, 0, 0)  # not yet registered
    assert figures(today) == (1, 0, 0)
    assert figures(today + timedelta(days=2)) == (1, 1, 0)  # closed, on time
    assert figures(today + timedelta(days=5)) == (1, 1, 0)
    # Reopened on day 6, three days past its deadline: open and overdue as of then.
    assert figures(today + timedelta(days=6)) == (1, 0, 1)


def test_it_uses_the_deadline_in_force_at_the_past_date(world):
    case = world.case(deadline=days(2))
    services.case_extend_deadline(
        actor=world.supervisor,
        case_id=case.pk,
        deadline=days(30),
        reason="延期",
        at=timezone.now() + timedelta(days=10),
    )
    cases = world.inspection.cases.all()
    # Between the old deadline and the extension the case was overdue…
    assert completion_total(cases, as_of=timezone.localdate() + timedelta(days=5)).overdue == 1
    # …and after the extension it no longer was.
    assert completion_total(cases, as_of=timezone.localdate() + timedelta(days=11)).overdue == 0


def test_it_ends_the_past_day_at_midnight_in_shanghai():
    day = timezone.localdate()
    moment = end_of_day(day)
    assert timezone.localtime(moment).hour == 0
    assert timezone.localtime(moment).date() == day + timedelta(days=1)


def test_it_refuses_unknown_groupings_and_levels(world):
    cases = world.inspection.cases.all()
    with pytest.raises(InvalidInput):
        completion_rows(cases, group_by="colour")
    with pytest.raises(InvalidInput):
        completion_total(cases, level="leaf")


def test_it_answers_in_one_query_whatever_the_number_of_cases(world, django_assert_num_queries):
    for _ in range(5):
        world.case(world.unit_a)
        world.case(world.unit_b)
    cases = world.inspection.cases.all()
    # The lights' working-day boundaries: read from the calendar once a minute per process
    # (cases.lights.day_bounds), not once a figure.
    assert lights.day_bounds(timezone.localdate()).working
    for as_of in (None, timezone.localdate()):
        with django_assert_num_queries(1):
            completion_rows(cases, group_by="region", as_of=as_of)


def test_it_has_status_labels_in_chinese():
    assert Status.COMPLETED.label == "已销号"
    assert Status.ESCALATED.label == "待上级协调"
