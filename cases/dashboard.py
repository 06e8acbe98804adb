"""The figures of the dashboard and the progress report, assembled from the completion module
over the user's scoped cases, so they can never disagree with the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils import timezone

from . import selectors, tally
from .completion import (
    CompletionRow,
    Selection,
    completion_report,
    completion_rows,
    completion_trend,
    lights_of,
    statuses_of,
)
from .lights import light_q as light_filter
from .models import Case, CaseEvent, Inspection, Unit
from .workflow import Status

TREND_POINTS = 12
LEAGUE_SIZE = 15
LIST_SIZE = 20


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

    def selection(self, user: Any) -> Selection:
        """The same cases, as the completion roll-ups select them."""
        return Selection(
            user,
            inspection_ids=(self.inspection.pk,) if self.inspection is not None else None,
            region_id=self.region.pk if self.region is not None else None,
        )

    def list_params(self) -> str:
        """The same selection as case-list query parameters (for drill-down links)."""
        params = [f"level={self.level}"]
        if self.inspection is not None:
            params.append(f"inspection={self.inspection.pk}")
        if self.region is not None:
            params.append(f"region={self.region.pk}")
        return "&".join(params)


def month_ends(last: date, count: int) -> list[date]:
    """`count` days ending with `last`: the last day of each earlier month, then `last`."""
    days = [last]
    cursor = last.replace(day=1) - timedelta(days=1)
    while len(days) < count:
        days.append(cursor)
        cursor = cursor.replace(day=1) - timedelta(days=1)
    return sorted(days)


def _rows(rows: list[CompletionRow], param: str, base: str) -> list[dict[str, Any]]:
    list_url = reverse("cases:list")
    return [
        {
            **row.as_dict(),
            # "市本级" (no region) has no key to filter by.
            "url": f"{list_url}?{base}{'&' if base else ''}{param}={row.key}"
            if row.key is not None
            else "",
        }
        for row in rows
    ]


def dashboard_figures(user: Any, scope: Scope) -> dict[str, Any]:
    """Everything the dashboard draws. A fixed number of queries whatever the data."""
    cases = scope.selection(user)
    options: dict[str, Any] = {"level": scope.level, "as_of": scope.as_of}
    base = scope.list_params()
    units, total, counts = completion_report(cases, group_by="unit", **options)
    league = sorted(units, key=lambda row: (-row.rate, -row.total, row.name))
    today = timezone.localdate()
    list_url = reverse("cases:list")
    # Only kept days are drawn; of those, past days beat has not rolled up yet are left out
    # (a GET never builds nor asks for a build) and the page says when they will be there.
    first = tally.first_kept_day(today)
    trend_days = [d for d in month_ends(scope.as_of or today, TREND_POINTS) if d >= first]
    trend = completion_trend(cases, days=trend_days, level=scope.level)
    return {
        "total": total.as_dict(),
        "by_inspection": _rows(completion_rows(cases, group_by="inspection", **options),
                               "inspection", base),
        "by_region": _rows(completion_rows(cases, group_by="region", **options), "region", base),
        "league": _rows(league[:LEAGUE_SIZE], "responsible_unit", base),
        "statuses": [
            {"status": status, "name": str(Status(status).label), "count": count,
             "url": f"{list_url}?{base}{'&' if base else ''}status={status}"}
            for status, count in statuses_of(counts).items()
        ],
        "lights": [
            {"light": light, "count": count,
             "url": f"{list_url}?{base}{'&' if base else ''}light={light}"}
            for light, count in lights_of(counts).items()
        ],
        "trend": [{"day": day.isoformat(), **row.as_dict()} for day, row in trend],
        "trend_pending": len(trend) < len(trend_days),
        "trend_minutes": max(1, settings.TALLY_MAINTAIN_SECONDS // 60),
    }  # fmt: skip


def overdue_cases(user: Any, scope: Scope) -> list[Case]:
    """The open cases past their deadline now, most overdue first, with days overdue."""
    today = timezone.localdate()
    cases = list(
        scope.cases(user)
        .filter(light_filter("red", today))
        .select_related("responsible_unit", "inspection")
        .order_by("deadline", "id")[:LIST_SIZE]
    )
    for case in cases:
        # Working days past the day it was due if its inspection counts them (cases.lights).
        case.days_overdue = case.days_late(today)  # type: ignore[attr-defined]
    return cases


def key_problems(user: Any, scope: Scope) -> QuerySet[Case]:
    return (
        scope.cases(user)
        .filter(is_key_problem=True)
        .select_related("responsible_unit")
        .order_by("deadline", "id")[:LIST_SIZE]
    )


def escalated_cases(user: Any, scope: Scope) -> QuerySet[Case]:
    return (
        scope.cases(user)
        .filter(status=Status.ESCALATED)
        .select_related("responsible_unit")
        .order_by("deadline", "id")[:LIST_SIZE]
    )


def changes_since(user: Any, scope: Scope, since: date) -> dict[str, Any]:
    """What moved since a day: closed cases, and status moves by target state."""
    cases = scope.cases(user)
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
