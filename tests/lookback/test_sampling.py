"""Drawing the sample: only the starter's visible closed problems, at random with a recorded
seed, and the same sample again from the same seed over the same population."""

from __future__ import annotations

import random

import pytest

from cases.errors import InvalidInput
from cases.workflow import Status
from lookback import sampling
from lookback.models import LookBack, RecheckTask

from .conftest import close, start

pytestmark = pytest.mark.django_db


def test_it_redraws_the_same_sample_from_the_recorded_seed(ledger):
    world = ledger.world
    lookback = start(world.supervisor, world.supervisor, size=4, seed=20260301)
    population = sorted(case.pk for case in ledger.closed)
    assert lookback.population_ids == population
    assert lookback.population_size == len(population) == 11
    assert lookback.drawn_ids == random.Random(20260301).sample(population, 4)
    # From the record alone, and from what the filters give today (before any task).
    assert sampling.redraw(lookback) == lookback.drawn_ids
    again = LookBack.objects.get(pk=lookback.pk)
    assert sampling.draw(list(reversed(again.population_ids)), again.seed, 4) == again.drawn_ids
    # Another seed, another sample (for these 11 cases and seeds: checked, not assumed).
    assert sampling.draw(population, 20260302, 4) != lookback.drawn_ids


def test_it_records_the_filters_and_a_fresh_seed(ledger):
    world = ledger.world
    lookback = start(world.supervisor, world.supervisor, unit=world.county_a.pk, size=2)
    assert lookback.filters == {
        "inspection": None,
        "unit": world.county_a.pk,
        "region": None,
        "closed_before": None,
    }
    assert 0 <= lookback.seed < 2**63
    # 甲县's closed problems only, its clue ledger's included: the city commission sees it.
    assert set(lookback.population_ids) == {c.pk for c in [*ledger.closed_a, ledger.restricted]}


def test_it_draws_only_closed_problems_the_starter_may_see(ledger):
    world = ledger.world
    problem = close(world, world.unit_a)
    item = world.case(world.unit_a, parent=world.case(world.unit_a))
    lookback = start(world.county_a_supervisor, world.county_a_supervisor, percentage=100)
    drawn = set(lookback.drawn_ids)
    # The county commission: 甲县 only (not 乙县), closed only, problems only (not items).
    assert drawn == {c.pk for c in [*ledger.closed_a, ledger.restricted, problem]}
    assert ledger.open_a.pk not in drawn and item.pk not in drawn
    assert not drawn & {c.pk for c in ledger.closed_b}


def test_it_draws_a_percentage_rounded_up(ledger):
    world = ledger.world
    lookback = start(world.supervisor, world.supervisor, percentage=10)
    assert lookback.sample_size == 2  # 10% of 11, rounded up
    assert lookback.percentage == 10


def test_it_leaves_out_cases_under_an_open_recheck(ledger):
    world = ledger.world
    first = start(world.supervisor, world.supervisor, size=5)
    second = start(world.supervisor, world.supervisor, percentage=100)
    assert not set(first.drawn_ids) & set(second.drawn_ids)
    assert second.population_size == 6
    assert RecheckTask.objects.filter(outcome="pending").count() == 11


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"size": 12}, "size"),  # more than the 11 closed problems
        ({"size": 0}, "size"),
        ({"percentage": 0}, "percentage"),
        ({"percentage": 101}, "percentage"),
        ({"size": 2, "percentage": 10}, "size"),
        ({"size": 2, "inspection": 987654321}, "inspection"),
    ],
)
def test_it_refuses_a_bad_sample_and_stores_nothing(ledger, options, field):
    world = ledger.world
    with pytest.raises(InvalidInput) as refused:
        start(world.supervisor, world.supervisor, **options)
    assert field in refused.value.fields
    assert not LookBack.objects.exists() and not RecheckTask.objects.exists()


def test_it_refuses_an_empty_population(world):
    with pytest.raises(InvalidInput):
        start(world.supervisor, world.supervisor, size=1)
    assert not LookBack.objects.exists()


def test_the_drawn_cases_stay_closed_until_decided(ledger):
    world = ledger.world
    lookback = start(world.supervisor, world.supervisor, size=3)
    for task in lookback.tasks.select_related("case"):
        assert task.case.status == Status.COMPLETED
        assert task.closed_at == task.case.closed_at
        assert task.responsible_unit_id == task.case.responsible_unit_id
