"""Completion figures (整改完成率), the one source for the dashboard, the API and exports.

- completion rate = done / total ("done" is completed or exempted);
- on-time rate = done without the overdue-at-close flag / done;
- overdue = not done and past the deadline.

At problem level a problem counts once whatever its items; at item level the leaves count
(a problem's items, and problems without items). With `as_of` the figures are those of the end
of that day, rebuilt from the history: a case's status, deadline and overdue-at-close flag then
are those of its last history rows before that moment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import InvalidInput
from .models import Case, CaseEvent
from .workflow import DONE_STATES, Status

GroupBy = Literal["inspection", "unit", "region"]
Level = Literal["problem", "item"]

GROUP_FIELDS: dict[str, tuple[str, str]] = {
    "inspection": ("inspection_id", "inspection__name"),
    "unit": ("responsible_unit_id", "responsible_unit__name"),
    "region": ("region_id", "region__name"),
}
LEVELS = ("problem", "item")


@dataclass(frozen=True)
class CompletionRow:
    key: int | None
    name: str
    total: int
    done: int
    on_time: int
    overdue: int

    @property
    def rate(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.done if self.done else None

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        del row["on_time"]
        row["rate"] = self.rate
        row["on_time_rate"] = self.on_time_rate
        return row


def end_of_day(day: date) -> datetime:
    """The first moment after `day` in the project's time zone."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def at_level(cases: QuerySet[Case], level: str) -> QuerySet[Case]:
    if level not in LEVELS:
        raise InvalidInput(_("level 只能是 problem 或 item。"), fields={"level": [level]})
    if level == "problem":
        return cases.filter(parent__isnull=True)
    return cases.filter(items_total=0)


@dataclass(frozen=True)
class _State:
    """Where a case's status, deadline and lateness-at-close are read: the live columns, or
    annotations rebuilt from history for the end of a past day."""

    cases: QuerySet
    status: str
    deadline: str
    late: str
    day: date  # the reference day: today, or the as-of day
    exists: Q  # the case existed then


def _state(cases: QuerySet[Case], *, as_of: date | None, today: date) -> _State:
    if as_of is None:
        return _State(cases, "status", "deadline", "overdue_at_close", today, Q())
    moment = end_of_day(as_of)
    before = CaseEvent.objects.filter(case=OuterRef("pk"), created_at__lt=moment).order_by(
        "-created_at", "-id"
    )
    status_rows = before.exclude(to_status="")
    cases = cases.filter(created_at__lt=moment).annotate(
        status_then=Subquery(status_rows.values("to_status")[:1]),
        late_then=Subquery(status_rows.values("was_overdue")[:1]),
        deadline_then=Subquery(before.filter(deadline__isnull=False).values("deadline")[:1]),
    )
    return _State(
        cases, "status_then", "deadline_then", "late_then", as_of, Q(status_then__isnull=False)
    )


def _done(state: _State) -> Q:
    return Q(**{f"{state.status}__in": DONE_STATES})


def _light(state: _State, light: str) -> Q:
    """The same rule as Case.light and cases.filters.light_q, on the live or past state."""
    not_done = ~_done(state) & state.exists
    soon = state.day + timedelta(days=settings.DUE_SOON_DAYS)
    if light == "red":
        return not_done & Q(**{f"{state.deadline}__lt": state.day})
    if light == "yellow":
        return not_done & Q(**{f"{state.deadline}__gte": state.day,
                               f"{state.deadline}__lte": soon})  # fmt: skip
    return state.exists & (_done(state) | Q(**{f"{state.deadline}__gt": soon}))


def light_q(light: str, today: date | None = None) -> Q:
    """The cases of one light now, as a filter (the list and the API use it)."""
    live = _State(Case.objects.none(), "status", "deadline", "overdue_at_close",
                  today or timezone.localdate(), Q())  # fmt: skip
    return _light(live, light)


def _counted(cases: QuerySet[Case], *, as_of: date | None, today: date) -> tuple[QuerySet, dict]:
    """Annotate what each count needs, now or as of the end of a past day."""
    state = _state(cases, as_of=as_of, today=today)
    done = _done(state)
    return state.cases, {
        "total": Count("id", filter=state.exists),
        "done": Count("id", filter=done),
        "on_time": Count("id", filter=done & Q(**{state.late: False})),
        "overdue": Count("id", filter=_light(state, "red")),
    }


def completion_rows(
    cases: QuerySet[Case],
    *,
    group_by: str,
    level: str = "problem",
    as_of: date | None = None,
    today: date | None = None,
) -> list[CompletionRow]:
    """Completion figures of `cases` (already scoped to the user) grouped one way.

    One aggregate query whatever the number of cases or groups.
    """
    if group_by not in GROUP_FIELDS:
        raise InvalidInput(
            _("group_by 只能是 inspection、unit 或 region。"), fields={"group_by": [group_by]}
        )
    key_field, name_field = GROUP_FIELDS[group_by]
    today = today or timezone.localdate()
    counted, aggregates = _counted(at_level(cases, level), as_of=as_of, today=today)
    rows = (
        counted.order_by()
        .values(key=F(key_field), name=F(name_field))
        .annotate(**aggregates)
        .filter(total__gt=0)
        .order_by("key")
    )
    city_level = _("市本级")
    return [
        CompletionRow(
            key=row["key"],
            name=row["name"] or city_level,
            total=row["total"],
            done=row["done"],
            on_time=row["on_time"],
            overdue=row["overdue"],
        )
        for row in rows
    ]


def completion_total(
    cases: QuerySet[Case],
    *,
    level: str = "problem",
    as_of: date | None = None,
    today: date | None = None,
) -> CompletionRow:
    """The same figures over all of `cases`, as one row."""
    today = today or timezone.localdate()
    counted, aggregates = _counted(at_level(cases, level), as_of=as_of, today=today)
    figures = counted.order_by().aggregate(**aggregates)
    return CompletionRow(key=None, name=_("合计"), **figures)


def status_counts(
    cases: QuerySet[Case],
    *,
    level: str = "problem",
    as_of: date | None = None,
    today: date | None = None,
) -> dict[str, int]:
    """How many cases are in each workflow state (every state present, zeros included)."""
    state = _state(at_level(cases, level), as_of=as_of, today=today or timezone.localdate())
    figures = state.cases.order_by().aggregate(
        **{status: Count("id", filter=Q(**{state.status: status})) for status in Status.values}
    )
    return {status: figures[status] for status in Status.values}


def light_counts(
    cases: QuerySet[Case],
    *,
    level: str = "problem",
    as_of: date | None = None,
    today: date | None = None,
) -> dict[str, int]:
    """Red (overdue), yellow (due within DUE_SOON_DAYS) and green (on track or done) counts:
    the same rule as each case's light and the list's `light` filter."""
    state = _state(at_level(cases, level), as_of=as_of, today=today or timezone.localdate())
    return state.cases.order_by().aggregate(
        **{light: Count("id", filter=_light(state, light)) for light in ("red", "yellow", "green")}
    )


def completion_trend(
    cases: QuerySet[Case], *, days: list[date], level: str = "problem"
) -> list[tuple[date, CompletionRow]]:
    """Completion as it stood at the end of each day: one query a point, whatever the cases."""
    return [(day, completion_total(cases, level=level, as_of=day)) for day in days]
