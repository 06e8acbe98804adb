"""Completion figures grouped several ways at once: the dashboard draws completion by
inspection, by region and by unit, and its totals, from one read of the roll-ups (GROUPING
SETS) rather than one read of them per grouping. Same figures as `completion.figures` grouped
each way (tested); off the roll-ups (the demo, a day not rolled up yet) it is exactly that."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.utils import timezone

from .completion import Figures, Selection, add_owned_elsewhere, figures, tallied
from .models import CompletionSnapshot, CompletionTally
from .tally_sql import FIGURE_NAMES

KEY_COLUMNS = {"inspection": "inspection_id", "unit": "responsible_unit_id", "region": "region_id"}
Grouped = dict[str, dict[Any, tuple[str, Figures]]]  # group_by -> `completion.figures`' answer


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
    grouped = _tallied_by(selection, groups, level=level, as_of=as_of, today=today)
    return {
        group: add_owned_elsewhere(grouped[group], selection, group_by=group, **options)
        for group in groups
    }


def _tallied_by(
    selection: Selection, groups: tuple[str, ...], *, level: str, as_of: date | None, today: date
) -> Grouped:
    if as_of is None or as_of >= today:
        rows = selection.tally_rows(CompletionTally.objects.all())
    else:
        rows = selection.tally_rows(CompletionSnapshot.objects.filter(day=as_of))
    keys = [KEY_COLUMNS[group] for group in groups]
    columns = [f"{level[0]}_{name}" for name in FIGURE_NAMES]
    result: Grouped = {group: {} for group in groups}
    try:
        sql, params = rows.order_by().values(*keys, *columns).query.sql_with_params()
    except EmptyResultSet:
        return result  # nothing in the user's scope
    # GROUPING(...) has a bit set for each key a row is not grouped by: one clear bit a set.
    every = (1 << len(keys)) - 1
    group_of = {every & ~(1 << (len(keys) - 1 - n)): group for n, group in enumerate(groups)}
    names = {
        "inspection_id": "cases_inspection",
        "responsible_unit_id": "cases_unit",
        "region_id": "cases_unit",
    }
    joins = " ".join(
        f"LEFT JOIN {names[key]} n{n} ON n{n}.id = g.{key}" for n, key in enumerate(keys)
    )
    label = ", ".join(f"n{n}.name" for n in range(len(keys)))
    sums = ", ".join(f"SUM(t.{column})" for column in columns)
    sets = ", ".join(f"({key})" for key in keys)
    # Only column names of this module go into the text; the values stay parameters.
    query = (
        f"SELECT g.*, COALESCE({label}) FROM (SELECT GROUPING({', '.join(keys)}),"  # noqa: S608
        f" {', '.join(keys)}, {sums} FROM ({sql}) AS t GROUP BY GROUPING SETS ({sets})) AS g"
        f" {joins}"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        for bits, *row in cursor.fetchall():
            group = group_of[bits]
            key = row[groups.index(group)]
            counts = dict(zip(FIGURE_NAMES, row[len(keys) : len(keys) + len(columns)], strict=True))
            result[group][key] = (row[-1], counts)
    return result
