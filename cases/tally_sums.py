"""Grouped sums over roll-up rows (`cases.tally`): the one query behind every grouped figure
read from the roll-ups (`completion.figures`, `tally_reads.figures_by`).

A province's roll-ups are some fifteen thousand rows for a thousand units. The rows are summed
per group first and the groups' names joined to the sums after (a thousand names joined to a
thousand sums, not to every roll-up row, nor a name carried through the grouping), and the sums
come back as plain tuples: no ORM row, converter or expression per value of a thousand groups.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet

from .tally_sql import FIGURE_NAMES

# Each grouping's key column in the roll-ups, and the table its names are read from.
KEY_COLUMNS = {"inspection": "inspection_id", "unit": "responsible_unit_id", "region": "region_id"}
NAME_TABLES = {"inspection": "cases_inspection", "unit": "cases_unit", "region": "cases_unit"}

# group_by -> {key: (name, {figure name: count})}, as `completion.figures` answers.
Grouped = dict[str, dict[Any, tuple[str, dict[str, int]]]]


def grouped_sums(rows: QuerySet, groups: tuple[str, ...], level: str) -> Grouped:
    """The figures of `level` of the roll-up `rows` (a user's, narrowed: `Selection.tally_rows`)
    summed per key of each of `groups`, with each key's name: one query whatever the groups."""
    keys = [KEY_COLUMNS[group] for group in groups]
    columns = [f"{level[0]}_{name}" for name in FIGURE_NAMES]
    result: Grouped = {group: {} for group in groups}
    rows = rows.order_by().values(*keys, *columns)
    try:
        sql, params = rows.query.get_compiler(using=rows.db).as_sql()
    except EmptyResultSet:
        return result  # nothing in the user's scope
    # GROUPING(...) has a bit set for each key a row is not grouped by: one clear bit a set.
    every = (1 << len(keys)) - 1
    group_of = {every & ~(1 << (len(keys) - 1 - n)): group for n, group in enumerate(groups)}
    joins = " ".join(
        f"LEFT JOIN {NAME_TABLES[group]} n{n} ON n{n}.id = g.{key}"
        for n, (group, key) in enumerate(zip(groups, keys, strict=True))
    )
    names = ", ".join(f"n{n}.name" for n in range(len(keys)))
    sums = ", ".join(f"SUM(t.{column}) AS {column}" for column in columns)
    # Only column and table names of this module go into the text; the values stay parameters.
    # A row's key is its group's (the other keys are NULL there, and so is a group's NULL key).
    query = (
        f"SELECT g.grouped, COALESCE({', '.join(f'g.{key}' for key in keys)}),"  # noqa: S608
        f" {', '.join(f'g.{column}' for column in columns)}, COALESCE({names})"
        f" FROM (SELECT GROUPING({', '.join(keys)}) AS grouped, {', '.join(keys)}, {sums}"
        f" FROM ({sql}) AS t GROUP BY GROUPING SETS ({', '.join(f'({key})' for key in keys)}))"
        f" AS g {joins}"
    )
    with connections[rows.db].cursor() as cursor:
        cursor.execute(query, params)
        found = cursor.fetchall()
    for row in found:
        counts = dict(zip(FIGURE_NAMES, row[2:-1], strict=True))
        result[group_of[row[0]]][row[1]] = (row[-1], counts)
    return result
