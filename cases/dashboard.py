"""The figures of the dashboard and the progress report, assembled from the completion module
over the user's scoped cases, so they can never disagree with the API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils import timezone

from lookback import figures as lookback_figures

from . import selectors, tally
from .completion import (
    CompletionRow,
    Figures,
    Selection,
    completion_report,
    completion_trend,
    lights_of,
    report_of,
    rows_of,
    statuses_of,
)
from .lights import light_q as light_filter
from .models import Case, CaseEvent, Inspection, Unit
from .tally_reads import figures_by
from .workflow import Status

TREND_POINTS = 12
UNIT_PAGE_SIZE = 50
LIST_SIZE = 20


def worst_first(rows: list[CompletionRow]) -> list[CompletionRow]:
    """The unit view's order: most red (overdue) first, then the lowest completion rate, then
    most yellow (due soon), then the most cases, then by name: what needs a supervisor's
    attention comes first, and the order is total (pages neither repeat nor skip a unit)."""
    return sorted(rows, key=lambda r: (-r.overdue, r.rate, -r.yellow, -r.total, r.name, r.key or 0))


@dataclass(frozen=True)
class Scope:
    """The dashboard's filters: which cases, at which level, as of which day."""

    inspection: Inspection | None = None
    region: Unit | None = None
    level: str = "problem"
    as_of: date | None = None

    def cases(self, user: Any) -> QuerySet[Case]:
        cases = selectors.visible_cases(user)
        if self.inspection is not None:
            cases = cases.filter(inspection=self.inspection)
        if self.region is not None:
            cases = cases.filter(region=self.region)
        return cases

    def selection(self, user: Any, *, restricted: bool = False) -> Selection:
        """The same cases, as the completion roll-ups select them: the rectification ledgers,
        or (restricted=True) the restricted ledgers the user may read, never both at once."""
        return Selection(
            user,
            inspection_ids=(self.inspection.pk,) if self.inspection is not None else None,
            region_id=self.region.pk if self.region is not None else None,
            restricted=restricted,
        )

    def list_params(self, *, restricted: bool = False) -> list[tuple[str, Any]]:
        """The same selection as case-list query parameters (for drill-down links): the
        level, the scope, the ledgers and the day, so the list counts what the figure counts."""
        params: list[tuple[str, Any]] = [("level", self.level)]
        if self.inspection is not None:
            params.append(("inspection", self.inspection.pk))
        if self.region is not None:
            params.append(("region", self.region.pk))
        params.append(("restricted", "true" if restricted else "false"))
        if self.as_of is not None:
            params.append(("as_of", self.as_of.isoformat()))
        return params

    def listable(self, count: int) -> bool:
        """Whether the case list can show exactly these `count` cases: always for today; for
        a past day only a list small enough to rebuild from the history in the request
        (TALLY_LIVE_AS_OF_MAX_CASES, the list's own bound: cases.filters)."""
        if self.as_of is None or self.as_of >= timezone.localdate():
            return True
        return count <= settings.TALLY_LIVE_AS_OF_MAX_CASES


def month_ends(last: date, count: int) -> list[date]:
    """`count` days ending with `last`: the last day of each earlier month, then `last`."""
    days = [last]
    cursor = last.replace(day=1) - timedelta(days=1)
    while len(days) < count:
        days.append(cursor)
        cursor = cursor.replace(day=1) - timedelta(days=1)
    return sorted(days)


def _linker(scope: Scope, *, restricted: bool = False) -> Callable[..., str]:
    """link(count, *extra): the case list behind a figure of `count` cases of the scope (and
    the `extra` list filters), or "" where no exact list exists. The list's address and the
    scope's parameters are worked out once for all the figures of a page."""
    base = f"{reverse('cases:list')}?{urlencode(scope.list_params(restricted=restricted))}"
    always = scope.listable(0) and scope.listable(settings.TALLY_LIVE_AS_OF_MAX_CASES + 1)

    def link(count: int, *extra: tuple[str, Any]) -> str:
        if not (always or scope.listable(count)):
            return ""
        return f"{base}&{urlencode(extra)}" if extra else base

    return link


# The list filter that selects one row of each grouping ("市本级", no region, has its own).
ROW_FILTERS = {"inspection": "inspection", "region": "region", "unit": "unit"}


def _rows(
    rows: list[CompletionRow], group_by: str, link: Callable[..., str]
) -> list[dict[str, Any]]:
    name = ROW_FILTERS[group_by]
    return [
        {**row.as_dict(), "url": link(row.total, (name, row.key) if row.key is not None
                                      else ("no_region", "true"))}
        for row in rows
    ]  # fmt: skip


def _lights(counts: Figures, link: Callable[..., str]) -> list[dict[str, Any]]:
    return [
        {"light": light, "count": count,
         "url": link(count, ("light", light))}
        for light, count in lights_of(counts).items()
    ]  # fmt: skip


def unit_page(rows: list[CompletionRow], link: Callable[..., str], number: Any) -> dict[str, Any]:
    """One page of every unit with cases in the scope, worst first."""
    page = Paginator(worst_first(rows), UNIT_PAGE_SIZE).get_page(number)
    return {
        "rows": _rows(list(page.object_list), "unit", link),
        "number": page.number,
        "num_pages": page.paginator.num_pages,
        "count": page.paginator.count,
        "start": page.start_index(),
    }


def restricted_figures(user: Any, scope: Scope, selection: Selection) -> dict[str, Any] | None:
    """The restricted ledgers' figures (问题线索台账), apart from the rectification figures:
    None for those who may not read any (an API reader, an inspector without a grant), and
    where the scope holds none. `selection`: the scope's rectification ledgers."""
    if not selectors.reads_restricted_ledgers(user):
        return None
    options: dict[str, Any] = {"level": scope.level, "as_of": scope.as_of}
    rows, total, counts = completion_report(
        selection.other_ledgers(restricted=True), group_by="inspection", **options
    )
    if not total.total:
        return None  # nothing to show, and no word of clue ledgers where there are none
    lookback_figures.add_to_groups(
        user, selection.other_ledgers(restricted=True), {"inspection": rows}, total,
        as_of=scope.as_of,
    )  # fmt: skip
    link = _linker(scope, restricted=True)
    return {
        "total": total.as_dict(),
        "by_inspection": _rows(rows, "inspection", link),
        "lights": _lights(counts, link),
    }


def dashboard_figures(user: Any, scope: Scope, *, page: Any = 1) -> dict[str, Any]:
    """Everything the dashboard draws. A fixed number of queries whatever the data.

    The rectification figures leave the restricted ledgers out (an API reader's big screen
    shows the same totals as a supervisor's dashboard); those who may read restricted
    ledgers get their figures apart, under "restricted"."""
    cases = scope.selection(user)
    # The three groupings from one read of the roll-ups; the totals from the units' (every
    # case is in exactly one unit's row).
    grouped = figures_by(
        cases, ("unit", "inspection", "region"), level=scope.level, as_of=scope.as_of
    )
    units, total, counts = report_of(grouped["unit"])
    by_inspection, by_region = rows_of(grouped["inspection"]), rows_of(grouped["region"])
    # The look-back's figures on every row, as the stats API has them (one query per kind).
    groups = {"unit": units, "inspection": by_inspection, "region": by_region}
    lookback_figures.add_to_groups(user, cases, groups, total, as_of=scope.as_of)
    today = timezone.localdate()
    # Only kept days are drawn; of those, past days beat has not rolled up yet are left out
    # (a GET never builds nor asks for a build) and the page says when they will be there.
    first = tally.first_kept_day(today)
    trend_days = [d for d in month_ends(scope.as_of or today, TREND_POINTS) if d >= first]
    link = _linker(scope)
    current = total if scope.as_of is None or scope.as_of >= today else None
    trend = completion_trend(cases, days=trend_days, level=scope.level, current=current)
    return {
        "total": total.as_dict(),
        "by_inspection": _rows(by_inspection, "inspection", link),
        "by_region": _rows(by_region, "region", link),
        "lookback": lookback_figures.dashboard_section(units, by_inspection),
        "units": unit_page(units, link, page),
        "statuses": [
            {"status": status, "name": str(Status(status).label), "count": count,
             "url": link(count, ("status", status))}
            for status, count in statuses_of(counts).items()
        ],
        "lights": _lights(counts, link),
        "restricted": restricted_figures(user, scope, cases),
        "exact_list_limit": settings.TALLY_LIVE_AS_OF_MAX_CASES,
        "trend": [{"day": day.isoformat(), **row.as_dict()} for day, row in trend],
        "trend_pending": len(trend) < len(trend_days),
        "trend_minutes": max(1, settings.TALLY_MAINTAIN_SECONDS // 60),
    }  # fmt: skip


# The lists below take the scope's cases (`Scope.cases`), read once for a page's lists.


def overdue_cases(scoped: QuerySet[Case]) -> list[Case]:
    """The open cases past their deadline now, most overdue first, with days overdue."""
    today = timezone.localdate()
    cases = list(
        scoped.filter(light_filter("red", today))
        .select_related("responsible_unit", "inspection")
        .order_by("deadline", "id")[:LIST_SIZE]
    )
    for case in cases:
        # Working days past the day it was due if its inspection counts them (cases.lights).
        case.days_overdue = case.days_late(today)  # type: ignore[attr-defined]
    return cases


def key_problems(scoped: QuerySet[Case]) -> QuerySet[Case]:
    return (
        scoped.filter(is_key_problem=True)
        .select_related("responsible_unit")
        .order_by("deadline", "id")[:LIST_SIZE]
    )


def escalated_cases(scoped: QuerySet[Case]) -> QuerySet[Case]:
    return (
        scoped.filter(status=Status.ESCALATED)
        .select_related("responsible_unit")
        .order_by("deadline", "id")[:LIST_SIZE]
    )


def changes_since(cases: QuerySet[Case], since: date) -> dict[str, Any]:
    """What moved since a day: closed cases, and status moves by target state."""
    start = timezone.make_aware(datetime.combine(since, time.min))
    moves = CaseEvent.objects.filter(
        case__in=cases, kind=CaseEvent.Kind.TRANSITION, created_at__gte=start
    )
    by_target = {
        row["to_status"]: row["count"]
        for row in moves.order_by().values("to_status").annotate(count=Count("id"))
    }
    closed = (
        cases.filter(closed_at__gte=start)
        .select_related("responsible_unit")
        .order_by("-closed_at")[:LIST_SIZE]
    )
    registered = cases.filter(created_at__gte=start).count()
    return {
        "moves": [
            {"status": status, "name": str(Status(status).label), "count": by_target.get(status, 0)}
            for status in Status.values
        ],
        "closed": closed,
        "registered": registered,
    }
