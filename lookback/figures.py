"""The look-back's figures: re-check failures (虚假整改) and accountability records (问责), per
group of the completion figures (cases.completion), for the stats API and the dashboard.

- failure rate = re-checks found false / re-checks decided, counted against the close that was
  re-checked: the task's own inspection, unit and region, as they were when it was drawn;
- accountability = records on the cases of the group; only for those who may read them
  (`selectors.reads_accountability`), None for everyone else.

Scoped like the completion figures: the tasks and records of the cases `Selection.cases()`
gives. One grouped query per kind, whatever the number of groups.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Count, Q, QuerySet

from cases.completion import CompletionRow, Selection, end_of_day
from cases.models import Case

from . import selectors
from .models import AccountabilityRecord, RecheckTask

# A completion grouping → the task's (key, name) fields of that group, and the record's
# (through its case).
TASK_FIELDS = {
    "inspection": ("inspection_id", "inspection__name"),
    "unit": ("responsible_unit_id", "responsible_unit__name"),
    "region": ("region_id", "region__name"),
}
RECORD_FIELDS = {
    name: (f"case__{key}", f"case__{label}") for name, (key, label) in TASK_FIELDS.items()
}
Group = dict[str, Any]  # {"name", "rechecked", "recheck_failed"} or {"name", "count"}


def _grouped(
    rows: QuerySet, groupings: list[str], fields: dict[str, tuple[str, str]], sums: tuple[str, ...]
) -> dict[str, dict[Any, Group]]:
    """Rows grouped by every grouping at once, summed per grouping in Python."""
    result: dict[str, dict[Any, Group]] = {name: {} for name in groupings}
    for row in rows:
        for name in groupings:
            key, label = fields[name]
            group = result[name].setdefault(
                row[key], {"name": row[label], **dict.fromkeys(sums, 0)}
            )
            for column in sums:
                group[column] += row[column]
    return result


def recheck_counts(
    cases: QuerySet[Case], groupings: list[str], *, as_of: date | None = None
) -> dict[str, dict[Any, Group]]:
    """{grouping: {key: {"name", "rechecked", "recheck_failed"}}}: the decided re-checks of
    `cases` (by the end of `as_of`), from one query grouped by all of `groupings` at once."""
    columns = [column for name in groupings for column in TASK_FIELDS[name]]
    tasks = RecheckTask.objects.filter(case__in=cases.values("pk"))
    if as_of is not None:
        tasks = tasks.filter(decided_at__lt=end_of_day(as_of))
    rows = (
        tasks.exclude(outcome=RecheckTask.Outcome.PENDING)
        .order_by()
        .values(*columns)
        .annotate(rechecked=Count("id"), recheck_failed=Count("id", filter=Q(outcome="false")))
    )
    return _grouped(rows, groupings, TASK_FIELDS, ("rechecked", "recheck_failed"))


def accountability_counts(
    user: Any, cases: QuerySet[Case], groupings: list[str], *, as_of: date | None = None
) -> dict[str, dict[Any, Group]] | None:
    """{grouping: {key: {"name", "count"}}} (decided by `as_of`), or None for a user who may
    not read them."""
    if not selectors.reads_accountability(user):
        return None
    columns = [column for name in groupings for column in RECORD_FIELDS[name]]
    records = AccountabilityRecord.objects.filter(case__in=cases.values("pk"))
    if as_of is not None:
        records = records.filter(decided_on__lte=as_of)
    rows = records.order_by().values(*columns).annotate(count=Count("id"))
    return _grouped(rows, groupings, RECORD_FIELDS, ("count",))


def add_to_groups(
    user: Any,
    selection: Selection,
    groups: dict[str, list[CompletionRow]],
    total: CompletionRow,
    *,
    as_of: date | None = None,
) -> None:
    """Set the look-back's figures on completion rows of one or more groupings (`groups`:
    grouping → its rows) and on their total, with one query per kind for all of them. A
    group without a completion row (every case of the unit closed falsely moved elsewhere
    since) counts in the total only."""
    cases = selection.cases()
    names = list(groups)
    rechecks = recheck_counts(cases, names, as_of=as_of)
    records = accountability_counts(user, cases, names, as_of=as_of)
    for name, rows in groups.items():
        counted = None if records is None else records[name]
        for row in rows:
            group = rechecks[name].get(row.key) or {}
            row.rechecked = group.get("rechecked", 0)
            row.recheck_failed = group.get("recheck_failed", 0)
            row.accountability = (
                None if counted is None else counted.get(row.key, {}).get("count", 0)
            )
    # Every task and record is in exactly one group of each grouping: the first one sums up.
    first = names[0]
    total.rechecked = sum(group["rechecked"] for group in rechecks[first].values())
    total.recheck_failed = sum(group["recheck_failed"] for group in rechecks[first].values())
    total.accountability = (
        None if records is None else sum(group["count"] for group in records[first].values())
    )


def add_to_rows(
    user: Any,
    selection: Selection,
    rows: list[CompletionRow],
    total: CompletionRow,
    group_by: str,
    *,
    as_of: date | None = None,
) -> None:
    """`add_to_groups` for the rows of one grouping (the stats API)."""
    add_to_groups(user, selection, {group_by: rows}, total, as_of=as_of)


def dashboard_section(units: list[CompletionRow], inspections: list[CompletionRow]) -> dict:
    """The dashboard's look-back tables, from its completion rows (`add_to_groups`: no query of
    its own): by unit and by inspection, the groups with a decided re-check or an
    accountability record, worst failure rate first."""
    section: dict[str, Any] = {"reads_accountability": any(
        row.accountability is not None for row in [*units, *inspections]
    )}  # fmt: skip
    for name, rows in (("unit", units), ("inspection", inspections)):
        shown = [row for row in rows if row.rechecked or row.accountability]
        section[name] = [
            {"key": row.key, "name": row.name, "rechecked": row.rechecked,
             "recheck_failed": row.recheck_failed, "rate": row.recheck_failure_rate,
             "accountability": row.accountability}
            for row in sorted(shown, key=lambda r: (
                -(r.recheck_failure_rate or 0), -r.rechecked, r.name, r.key or 0
            ))
        ]  # fmt: skip
    section["empty"] = not (section["unit"] or section["inspection"])
    return section
