"""What a document says, as plain values: the figures of the progress report, from the same
definitions as the dashboard and the HTML report (cases.completion, cases.dashboard), over
the same user-scoped selection.

The drafting templates receive nothing but these values (numbers and words), never a model or
a queryset, so a template's text cannot reach a row outside the user's scope. The notice
(通报) leaves out the restricted ledgers, every case marked not for publication (with the items
of a problem so marked) and people altogether.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import selectors
from cases.completion import (
    CompletionRow,
    Selection,
    Source,
    completion_report,
    figures,
    not_built_message,
)
from cases.dashboard import Scope, escalated_cases, overdue_cases
from cases.errors import NotBuiltYet
from cases.models import Case, Unit
from cases.workflow import Status
from lookback.figures import accountability_counts, recheck_counts

CN_NUMBERS = "一二三四五六七八九十"


@dataclass(frozen=True)
class Selected:
    """The document's filters: the report's scope (inspection, region, level, as_of), a unit
    (its subtree), and whether this is the public notice."""

    scope: Scope
    unit: Unit | None = None
    notice: bool = False


def public_only(cases: QuerySet[Case]) -> QuerySet[Case]:
    """The cases a notice may name: no restricted ledger, nothing marked not for publication,
    no item of a problem so marked."""
    return (
        cases.filter(inspection__restricted=False)
        .exclude(not_for_publication=True)
        .exclude(parent__not_for_publication=True)
    )


def _narrowed(cases: QuerySet[Case], selected: Selected) -> QuerySet[Case]:
    if selected.unit is not None:
        cases = cases.filter(selectors.within_subtree(selected.unit, "responsible_unit"))
    return public_only(cases) if selected.notice else cases


def document_cases(user: Any, selected: Selected) -> QuerySet[Case]:
    """Every case the document may speak of (restricted ledgers too where the user reads them
    and this is not the notice): the HTML report's `Scope.cases`, narrowed."""
    return _narrowed(selected.scope.cases(user), selected)


def completion_source(user: Any, selected: Selected, *, restricted: bool = False) -> Source:
    """What the completion figures count: the dashboard's own Selection (so the report's
    figures are the dashboard's, from the roll-ups) unless a unit or the notice narrows it,
    then the same cases counted by the same definition."""
    selection = selected.scope.selection(user, restricted=restricted)
    if selected.unit is None and not selected.notice:
        return selection
    return _narrowed(selection.cases(), selected)


def percent(rate: float | None) -> str:
    if rate is None:
        return ""
    return f"{rate * 100:.1f}".rstrip("0").rstrip(".") + "%"


def day_text(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else ""


def cn_number(number: int) -> str:
    if number <= 10:
        return CN_NUMBERS[number - 1]
    tens, ones = divmod(number, 10)
    return (
        (CN_NUMBERS[tens - 1] if tens > 1 else "") + "十" + (CN_NUMBERS[ones - 1] if ones else "")
    )


def row_values(row: CompletionRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "total": row.total,
        "done": row.done,
        "open": row.total - row.done,
        "rate": percent(row.rate),
        "on_time_rate": percent(row.on_time_rate),
        "overdue": row.overdue,
    }


def item_groups(items: QuerySet[Case], as_of: date | None) -> dict[int, list[dict[str, Any]]]:
    """Per inspection, the items of its problems by source (省级反馈, 市级反馈, 自查发现):
    how many, completed, on the negative list (exempted), still open and escalated, counted
    by `cases.completion` at item level; with the methods of the completed ones (today only:
    the history does not record a method's past)."""
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    methods = _methods(items) if as_of is None else {}
    for source, label in Case.Source.choices:
        counted = figures(
            items.filter(source=source), group_by="inspection", level="item", as_of=as_of
        )
        for inspection_id, (_name, counts) in counted.items():
            total = sum(counts[status] for status in Status.values)
            if not total:
                continue
            completed = counts[Status.COMPLETED.value]
            exempted = counts[Status.EXEMPTED.value]
            groups[inspection_id].append(
                {
                    "source": str(label),
                    "total": total,
                    "completed": completed,
                    "exempted": exempted,
                    "open": total - completed - exempted,
                    "escalated": counts[Status.ESCALATED.value],
                    "all_done": completed + exempted == total,
                    "methods": methods.get((inspection_id, source), ""),
                }
            )
    return groups


def _methods(items: QuerySet[Case]) -> dict[tuple[int, str], str]:
    labels = dict(Case.Method.choices)
    rows = (
        items.filter(status=Status.COMPLETED)
        .exclude(method="")
        .order_by()
        .values("inspection_id", "source", "method")
        .annotate(n=Count("id"))
    )
    found: dict[tuple[int, str], list[tuple[str, int]]] = defaultdict(list)
    order = list(labels)
    for row in rows:
        found[(row["inspection_id"], row["source"])].append((row["method"], row["n"]))
    return {
        key: "、".join(
            f"{labels[m]}{n}项" for m, n in sorted(pairs, key=lambda p: order.index(p[0]))
        )
        for key, pairs in found.items()
    }


def _case_line(case: Case, *, overdue: bool = False) -> dict[str, Any]:
    line: dict[str, Any] = {
        "code": case.code,
        "title": case.title,
        "unit": case.responsible_unit.name,
        "deadline": day_text(case.deadline),
    }
    if overdue:
        line["days"] = getattr(case, "days_overdue", 0)
    return line


def scope_name(user: Any, selected: Selected) -> str:
    scope = selected.scope
    parts = []
    if scope.inspection is not None:
        parts.append(scope.inspection.name)
    for unit in (scope.region, selected.unit):
        if unit is not None:
            parts.append(unit.name)
    return "·".join(parts) or jurisdiction_name(user)


def jurisdiction_name(user: Any) -> str:
    root = selectors.scope_root(user)
    if root is not None:
        return root.name
    return _("全辖区") if selectors.sees_everything(user) else ""


def issuer_of(user: Any) -> str:
    unit = getattr(user, "unit", None)
    return settings.DOCUMENT_ISSUER or (unit.name if unit is not None else "")


def _restricted(user: Any, selected: Selected) -> dict[str, Any] | None:
    """The restricted ledgers in one sentence, for those who read them; never in a notice."""
    if selected.notice or not selectors.reads_restricted_ledgers(user):
        return None
    source = completion_source(user, selected, restricted=True)
    scope = selected.scope
    _rows, total, _counts = completion_report(
        source, group_by="inspection", level=scope.level, as_of=scope.as_of
    )
    return row_values(total) if total.total else None


def lookback_values(user: Any, cases: QuerySet[Case], selected: Selected) -> dict[str, Any]:
    """The look-back's figures of the document's cases, by the dashboard's definitions
    (lookback.figures): re-checks decided and found false, and, where the user may read them
    and this is not the public notice, accountability records (None otherwise)."""
    as_of = selected.scope.as_of
    rechecks = recheck_counts(cases, ["inspection"], as_of=as_of)["inspection"].values()
    rechecked = sum(group["rechecked"] for group in rechecks)
    failed = sum(group["recheck_failed"] for group in rechecks)
    records = (
        None if selected.notice else accountability_counts(user, cases, ["inspection"], as_of=as_of)
    )
    accountability = None
    if records is not None:
        accountability = sum(group["count"] for group in records["inspection"].values())
    return {
        "rechecked": rechecked,
        "failed": failed,
        "failure_rate": percent(failed / rechecked if rechecked else None),
        "accountability": accountability,
    }


def drafting_context(user: Any, selected: Selected) -> dict[str, Any]:
    """Everything a drafting template (and the document's tables) may use."""
    scope = selected.scope
    source = completion_source(user, selected)
    cases = document_cases(user, selected)
    countable = is_countable(cases, scope.as_of)
    if scope.as_of is not None and not (countable or isinstance(source, Selection)):
        # The Selection has its own rule (a built snapshot answers any size).
        message = not_built_message(scope.as_of)
        raise NotBuiltYet(message, fields={"as_of": [scope.as_of.isoformat()]})
    rows, total, _counts = completion_report(
        source,
        group_by="inspection",
        level=scope.level,
        as_of=scope.as_of,
    )
    # The item sentences are counted from the cases: for a past day, of a bounded selection.
    items = cases.filter(parent__isnull=False, inspection__restricted=False)
    groups = item_groups(items, scope.as_of) if countable else {}
    inspections = [
        {
            **row_values(row),
            "key": row.key,
            "number": number,
            "cn_number": cn_number(number),
            "item_groups": groups.get(row.key or 0, []),
        }
        for number, row in enumerate(rows, 1)
    ]
    overdue = [_case_line(case, overdue=True) for case in overdue_cases(cases)]
    escalated = [_case_line(case) for case in escalated_cases(cases)]
    return {
        "notice": selected.notice,
        "issuer": issuer_of(user),
        "jurisdiction": jurisdiction_name(user),
        "scope_name": scope_name(user, selected),
        "as_of": day_text(scope.as_of or timezone.localdate()),
        "level": _("事项") if scope.level == "item" else _("问题"),
        "total": row_values(total),
        "inspections": inspections,
        "overdue": overdue,
        "overdue_more": max(total.overdue - len(overdue), 0),
        "overdue_units": "、".join(dict.fromkeys(line["unit"] for line in overdue)),
        "escalated": escalated,
        "restricted": _restricted(user, selected),
        "lookback": lookback_values(user, cases, selected),
    }


def is_countable(cases: QuerySet[Case], as_of: date | None) -> bool:
    """Whether the figures of `as_of` may be counted from the history in the request: today
    always, a past day only for a bounded selection (the roll-ups' rule, `Selection.countable`)."""
    if as_of is None or as_of >= timezone.localdate():
        return True
    limit = settings.TALLY_LIVE_AS_OF_MAX_CASES
    return cases.order_by()[: limit + 1].count() <= limit
