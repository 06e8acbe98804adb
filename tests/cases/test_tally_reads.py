"""The dashboard's reads of the roll-ups (cases.tally_reads, the remembered trend sums) give
exactly the figures of `completion.figures` and of a fresh count."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from cases import tally
from cases.completion import Selection, completion_trend, figures
from cases.tally_reads import figures_by
from tests.cases.test_tally import PERSONAS, ledger  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

GROUPS = ("unit", "inspection", "region")


@pytest.fixture(autouse=True)
def built_tally(db):
    tally.refresh()


def test_the_groupings_read_at_once_equal_each_read_alone(world, ledger):  # noqa: F811
    past = timezone.localdate() - timedelta(days=1)
    tally.ensure_snapshot(past)
    for persona in PERSONAS:
        user = getattr(world, persona)
        for restricted in (False, True, None):
            selection = Selection(user, restricted=restricted)
            for level in ("problem", "item"):
                for as_of in (None, past):
                    options = {"level": level, "as_of": as_of}
                    together = figures_by(selection, GROUPS, **options)
                    for group in GROUPS:
                        alone = figures(Selection(user, restricted=restricted), group_by=group,
                                        **options)  # fmt: skip
                        assert together[group] == alone, (persona, restricted, level, group)


def test_a_remembered_trend_follows_a_rebuilt_snapshot(world, ledger):  # noqa: F811
    today = timezone.localdate()
    trend_days = [today - timedelta(days=n) for n in (7, 1)]
    for day in trend_days:
        tally.ensure_snapshot(day)
    selection = Selection(world.supervisor, restricted=False)
    before = completion_trend(selection, days=trend_days)
    assert before == completion_trend(selection.cases(), days=trend_days)
    # A case registered three days ago drops the snapshots from that day on; beat builds again.
    with time_machine.travel(timezone.now() - timedelta(days=3)):
        world.case(unit=world.unit_b, title="补录问题")
    assert tally.built_versions(trend_days).keys() == {trend_days[0]}
    tally.ensure_snapshot(trend_days[1])
    after = completion_trend(Selection(world.supervisor, restricted=False), days=trend_days)
    assert after == completion_trend(selection.cases(), days=trend_days)
    assert after[1][1].total == before[1][1].total + 1
