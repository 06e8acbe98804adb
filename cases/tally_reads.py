"""Completion figures grouped several ways at once: the dashboard draws completion by
inspection, by region and by unit, and its totals, from one read of the roll-ups (GROUPING
SETS, `cases.tally_sums`) rather than one read of them per grouping. Same figures as
`completion.figures` grouped each way (tested); off the roll-ups (the demo, a day not rolled up
yet) it is exactly that."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils import timezone

from .completion import Selection, add_owned_elsewhere, figures, roll_up_rows, tallied
from .tally_sums import Grouped, grouped_sums


def figures_by(
    selection: Selection,
    groups: tuple[str, ...],
    *,
    level: str = "problem",
    as_of: date | None = None,
) -> Grouped:
    """`completion.figures(selection, group_by=g, ...)` for each g of `groups`."""
    today = timezone.localdate()
    options: dict[str, Any] = {"level": level, "as_of": as_of, "today": today}
    # Validates the level and raises NotBuiltYet where `figures` would.
    if level not in ("problem", "item") or not tallied(selection, as_of, today):
        return {group: figures(selection, group_by=group, **options) for group in groups}
    rows = roll_up_rows(selection, as_of=as_of, today=today)
    grouped = grouped_sums(rows, groups, level)
    return {
        group: add_owned_elsewhere(grouped[group], selection, group_by=group, **options)
        for group in groups
    }
