"""Completion figures (整改完成率), the one source for the dashboard, the API and exports.

- completion rate = done / total ("done" is completed or exempted);
- on-time rate = done without the overdue-at-close flag / done;
- overdue = not done and past the deadline.

At problem level a problem counts once whatever its items; at item level the leaves count
(a problem's items, and problems without items). With `as_of` the figures are those of the end
of that day, rebuilt from the history: a case's status, deadline and overdue-at-close flag then
are those of its last history rows before that moment.

No read writes. On PostgreSQL a Selection is answered from the roll-ups that beat builds
(`cases.tally`); until they are built (today's tally on a new day, a past day's snapshot) the
figures are counted from the cases and their history, for a past day only if the selection is
small enough to count in bounded time (TALLY_LIVE_AS_OF_MAX_CASES), else `NotBuiltYet`.
The days that may be asked for are `check_as_of`'s: the kept window up to today.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import cached_property
from operator import itemgetter
from typing import Any, Literal

from django.conf import settings
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from . import selectors, tally
from .errors import InvalidInput, NotBuiltYet
from .lights import LIGHTS, light_q
from .models import Case, CaseEvent, CompletionSnapshot, CompletionTally
from .tally_sql import FIGURE_NAMES
from .tally_sums import grouped_sums
from .workflow import DONE_STATES, Status

GroupBy = Literal["inspection", "unit", "region"]
Level = Literal["problem", "item"]

GROUP_FIELDS: dict[str, tuple[str, str]] = {
    "inspection": ("inspection_id", "inspection__name"),
    "unit": ("responsible_unit_id", "responsible_unit__name"),
    "region": ("region_id", "region__name"),
}
LEVELS = ("problem", "item")
# Plain strings, once: Status.values builds a new list on every access, and hashing an enum
# member costs more than a str; a row of a thousand-unit answer sums over both.
STATUS_VALUES = tuple(Status.values)
DONE_VALUES = tuple(str(status.value) for status in DONE_STATES)
_ALL_FIGURES = itemgetter(*FIGURE_NAMES)  # a group's figures as a tuple, in FIGURE_NAMES order


# Slots, and not frozen: a frozen dataclass sets each field through object.__setattr__, and a
# thousand-unit answer makes a thousand rows. Nothing changes a row once it is made.
@dataclass(slots=True)
class CompletionRow:
    key: int | None
    name: str
    total: int
    done: int
    on_time: int
    overdue: int  # the red light: not done and past the deadline
    yellow: int = 0  # due soon (the yellow light)
    # The look-back's (lookback.figures.add_to_rows, where asked for): decided re-checks, those
    # found false, and accountability records (None: not the caller's to read).
    rechecked: int = 0
    recheck_failed: int = 0
    accountability: int | None = None

    @property
    def rate(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.done if self.done else None

    @property
    def recheck_failure_rate(self) -> float | None:
        return self.recheck_failed / self.rechecked if self.rechecked else None

    def as_dict(self) -> dict[str, Any]:
        # Spelled out: dataclasses.asdict deep-copies, which a thousand-unit answer feels.
        return {
            "key": self.key,
            "name": self.name,
            "total": self.total,
            "done": self.done,
            "overdue": self.overdue,
            "yellow": self.yellow,
            "rate": self.rate,
            "on_time_rate": self.on_time_rate,
            "rechecked": self.rechecked,
            "recheck_failed": self.recheck_failed,
            "recheck_failure_rate": self.recheck_failure_rate,
            "accountability": self.accountability,
        }


def end_of_day(day: date) -> datetime:
    """The first moment after `day` in the project's time zone."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def as_of_problem(day: date | None, today: date | None = None) -> str | None:
    """Why `day` cannot be asked for (a message for people), or None: only the kept days up to
    today (`tally.first_kept_day`) are answered, so no caller can make the server rebuild an
    arbitrary past."""
    if day is None:
        return None
    today = today or timezone.localdate()
    first = tally.first_kept_day(today)
    if day > today:
        return _("截至日期不能晚于今天。")
    if day < first:
        return _("截至日期不能早于 %(first)s：系统只保留最近 %(days)s 天的历史统计。") % {
            "first": first.isoformat(),
            "days": settings.TALLY_SNAPSHOT_DAYS,
        }
    return None


def not_built_message(day: date) -> str:
    minutes = max(1, settings.TALLY_MAINTAIN_SECONDS // 60)
    return _(
        "%(day)s 的历史统计尚未生成：定时任务每 %(minutes)s 分钟补建一次，请稍后再查询，"
        "或缩小统计范围（选择检查或区县）。"
    ) % {"day": day.isoformat(), "minutes": minutes}


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
    """The cases of `light` (the rule: `cases.lights`), on the live or past state."""
    return state.exists & light_q(
        light, day=state.day, status=state.status, deadline=state.deadline
    )


def cases_as_of(
    cases: QuerySet[Case],
    day: date,
    *,
    statuses: list[str] | None = None,
    light: str | None = None,
    today: date | None = None,
) -> QuerySet[Case]:
    """The cases that existed at the end of `day`, narrowed to those then in `statuses` or of
    `light`: the state the figures of that day count (the case list's `as_of`, so that a
    dashboard bar and the list behind it agree)."""
    state = _state(cases, as_of=day, today=today or timezone.localdate())
    condition = state.exists
    if statuses:
        condition &= Q(**{f"{state.status}__in": statuses})
    if light:
        condition &= _light(state, light)
    return state.cases.filter(condition)


Figures = dict[str, int]  # FIGURE_NAMES -> count, for one group at one level


@dataclass(frozen=True)
class Selection:
    """A user's cases, optionally narrowed to inspections or a region: the selections the
    roll-ups (`cases.tally`) answer without reading the cases themselves."""

    user: Any
    inspection_ids: tuple[int, ...] | None = None
    region_id: int | None = None
    # False: the rectification ledgers only; True: the restricted ledgers (问题线索台账) only,
    # of those the user may read; None: both. The dashboard and the API keep them apart.
    restricted: bool | None = None

    def narrow(self, rows: QuerySet) -> QuerySet:
        if self.inspection_ids is not None:
            rows = rows.filter(inspection_id__in=self.inspection_ids)
        if self.region_id is not None:
            rows = rows.filter(region_id=self.region_id)
        if self.restricted is not None:
            rows = rows.filter(inspection__restricted=self.restricted)
        return rows

    def cases(self) -> QuerySet[Case]:
        return self.narrow(selectors.visible_cases(self.user))

    # Read once per selection (one page or request), however many figures it draws.
    @cached_property
    def tally_day(self) -> date | None:
        """The day the live tally holds (None: not built); beat keeps it today's."""
        return tally.current_day()

    @cached_property
    def countable(self) -> bool:
        """Few enough cases to count from the history within the request (a bounded query)."""
        limit = settings.TALLY_LIVE_AS_OF_MAX_CASES
        return self.cases().order_by()[: limit + 1].count() <= limit

    @cached_property
    def _tally_scope(self) -> Q | None:
        return selectors.tally_scope(self.user)

    @cached_property
    def owned_elsewhere(self) -> QuerySet[Case] | None:
        """The cases the roll-ups leave out (`selectors.owned_outside_scope`), None if none."""
        extra = self.narrow(selectors.owned_outside_scope(self.user))
        return extra if extra.exists() else None

    def other_ledgers(self, *, restricted: bool | None) -> Selection:
        """The same user's cases, narrowed the same way, of other ledgers; what depends on the
        user alone (the tally's day, the roll-ups' scope) is not read again."""
        other = replace(self, restricted=restricted)
        for name in ("tally_day", "_tally_scope"):
            if name in self.__dict__:
                other.__dict__[name] = self.__dict__[name]  # cached_property's own store
        return other

    def tally_rows(self, rows: QuerySet) -> QuerySet:
        """Roll-up rows of this selection (`selectors.visible_tally`, narrowed)."""
        scope = self._tally_scope
        return rows.none() if scope is None else self.narrow(rows.filter(scope))


Source = QuerySet[Case] | Selection


def _live_figures(
    cases: QuerySet[Case], *, group_by: str | None, level: str, as_of: date | None, today: date
) -> dict[Any, tuple[str, Figures]]:
    """The figures counted from the cases (and their history for `as_of`): one query."""
    state = _state(at_level(cases, level), as_of=as_of, today=today)
    done = _done(state)
    aggregates = {
        **{status: Count("id", filter=Q(**{state.status: status})) for status in Status.values},
        "on_time": Count("id", filter=done & Q(**{state.late: False})),
        **{light: Count("id", filter=_light(state, light)) for light in LIGHTS},
    }
    counted = state.cases.order_by()
    if group_by is None:
        return {None: ("", counted.aggregate(**aggregates))}
    key_field, name_field = GROUP_FIELDS[group_by]
    rows = counted.values(key=F(key_field), name=F(name_field)).annotate(**aggregates)
    return {row["key"]: (row["name"], {n: row[n] for n in FIGURE_NAMES}) for row in rows}


def roll_up_rows(selection: Selection, *, as_of: date | None, today: date) -> QuerySet:
    """The roll-up rows that answer `selection` now (the live tally) or as of a past day (that
    day's snapshot)."""
    if as_of is None or as_of >= today:
        return selection.tally_rows(CompletionTally.objects.all())
    return selection.tally_rows(CompletionSnapshot.objects.filter(day=as_of))


def _tallied_figures(
    selection: Selection, *, group_by: str | None, level: str, as_of: date | None, today: date
) -> dict[Any, tuple[str, Figures]]:
    """The same figures summed from the roll-ups: a few thousand rows whatever the cases."""
    rows = roll_up_rows(selection, as_of=as_of, today=today)
    if group_by is None:
        sums = {name: Sum(f"{level[0]}_{name}") for name in FIGURE_NAMES}
        figures = rows.order_by().aggregate(**sums)
        result = {None: ("", {name: figures[name] or 0 for name in FIGURE_NAMES})}
    else:
        result = grouped_sums(rows, (group_by,), level)[group_by]
    return add_owned_elsewhere(
        result, selection, group_by=group_by, level=level, as_of=as_of, today=today
    )


def add_owned_elsewhere(
    result: dict[Any, tuple[str, Figures]],
    selection: Selection,
    *,
    group_by: str | None,
    level: str,
    as_of: date | None,
    today: date,
) -> dict[Any, tuple[str, Figures]]:
    """Roll-up figures plus the cases an inspector was made owner of outside their unit: too
    few to tally, counted."""
    if selection.owned_elsewhere is not None:
        extra = selection.owned_elsewhere
        more = _live_figures(extra, group_by=group_by, level=level, as_of=as_of, today=today)
        for key, (name, figures) in more.items():
            base = result.get(key, (name, dict.fromkeys(FIGURE_NAMES, 0)))[1]
            result[key] = (name, {n: base[n] + figures[n] for n in FIGURE_NAMES})
    return result


def figures(
    source: Source,
    *,
    group_by: str | None = None,
    level: str = "problem",
    as_of: date | None = None,
    today: date | None = None,
) -> dict[Any, tuple[str, Figures]]:
    """Every figure of `source`, per group (or under the key None without `group_by`).

    A Selection is answered from the roll-ups on PostgreSQL (for the real today); a queryset,
    or any other case, is counted from the cases. Both give the same numbers (tested).
    """
    if group_by is not None and group_by not in GROUP_FIELDS:
        raise InvalidInput(
            _("group_by 只能是 inspection、unit 或 region。"), fields={"group_by": [group_by]}
        )
    if level not in LEVELS:
        raise InvalidInput(_("level 只能是 problem 或 item。"), fields={"level": [level]})
    today = today or timezone.localdate()
    options: dict[str, Any] = {"group_by": group_by, "level": level, "as_of": as_of, "today": today}
    if isinstance(source, Selection):
        if tallied(source, as_of, today):
            return _tallied_figures(source, **options)
        source = source.cases()
    return _live_figures(source, **options)


def tallied(selection: Selection, as_of: date | None, today: date) -> bool:
    """Whether the roll-ups answer `selection` (on PostgreSQL, for the real today, once beat
    has built what answers it); see `_rolled_up`."""
    return (
        tally.available() and today == timezone.localdate() and _rolled_up(selection, as_of, today)
    )


def _rolled_up(selection: Selection, as_of: date | None, today: date) -> bool:
    """Whether beat has built what answers this: else count (today's figures, or a small
    selection's past) or refuse (a large selection's past) rather than build in a read."""
    if as_of is None or as_of >= today:
        return selection.tally_day == today
    if tally.has_snapshot(as_of):
        return True
    if selection.countable:
        return False
    raise NotBuiltYet(not_built_message(as_of), fields={"as_of": [as_of.isoformat()]})


def _row(key: Any, name: str, counts: Figures) -> CompletionRow:
    return CompletionRow(
        key,
        name,
        sum(map(counts.__getitem__, STATUS_VALUES)),  # total
        sum(map(counts.__getitem__, DONE_VALUES)),  # done
        counts["on_time"],
        counts["red"],  # overdue
        counts["yellow"],
    )


def completion_rows(
    source: Source,
    *,
    group_by: str,
    level: str = "problem",
    as_of: date | None = None,
    today: date | None = None,
) -> list[CompletionRow]:
    """Completion figures of `source` (already scoped to the user) grouped one way.

    One aggregate query whatever the number of cases or groups.
    """
    return completion_report(source, group_by=group_by, level=level, as_of=as_of, today=today)[0]


def completion_report(
    source: Source,
    *,
    group_by: str,
    level: str = "problem",
    as_of: date | None = None,
    today: date | None = None,
) -> tuple[list[CompletionRow], CompletionRow, Figures]:
    """The rows grouped one way, their total and the total's every figure (statuses, lights),
    from one count: every case is in exactly one group (cases without a region in None's)."""
    if group_by not in GROUP_FIELDS:
        raise InvalidInput(
            _("group_by 只能是 inspection、unit 或 region。"), fields={"group_by": [group_by]}
        )
    return report_of(figures(source, group_by=group_by, level=level, as_of=as_of, today=today))


def report_of(
    groups: dict[Any, tuple[str, Figures]],
) -> tuple[list[CompletionRow], CompletionRow, Figures]:
    """`completion_report` of figures already counted (`figures`, or `figures_by`)."""
    summed = dict.fromkeys(FIGURE_NAMES, 0)
    if groups:  # column by column: a thousand groups' figures in C, not one += a figure
        columns = zip(*(_ALL_FIGURES(counts) for _name, counts in groups.values()), strict=True)
        summed = dict(zip(FIGURE_NAMES, map(sum, columns), strict=True))
    return rows_of(groups), _row(None, _("合计"), summed), summed


def rows_of(groups: dict[Any, tuple[str, Figures]]) -> list[CompletionRow]:
    """The rows of `report_of`, without their total."""
    city_level = _("市本级")
    rows = [_row(key, name or city_level, counts) for key, (name, counts) in groups.items()]
    return sorted(
        (row for row in rows if row.total > 0), key=lambda row: (row.key is None, row.key or 0)
    )


def completion_total(
    source: Source,
    *,
    level: str = "problem",
    as_of: date | None = None,
    today: date | None = None,
) -> CompletionRow:
    """The same figures over all of `source`, as one row."""
    counts = figures(source, level=level, as_of=as_of, today=today)[None][1]
    return _row(None, _("合计"), counts)


def statuses_of(counts: Figures) -> dict[str, int]:
    return {status: counts[status] for status in STATUS_VALUES}


def lights_of(counts: Figures) -> dict[str, int]:
    return {light: counts[light] for light in LIGHTS}


def status_counts(
    source: Source,
    *,
    level: str = "problem",
    as_of: date | None = None,
    today: date | None = None,
) -> dict[str, int]:
    """How many cases are in each workflow state (every state present, zeros included)."""
    return statuses_of(figures(source, level=level, as_of=as_of, today=today)[None][1])


def light_counts(
    source: Source,
    *,
    level: str = "problem",
    as_of: date | None = None,
    today: date | None = None,
) -> dict[str, int]:
    """Red (overdue), yellow (due within DUE_SOON_DAYS) and green (on track or done) counts:
    the same rule as each case's light and the list's `light` filter."""
    return lights_of(figures(source, level=level, as_of=as_of, today=today)[None][1])


def completion_trend(
    source: Source,
    *,
    days: list[date],
    level: str = "problem",
    current: CompletionRow | None = None,
) -> list[tuple[date, CompletionRow]]:
    """Completion as it stood at the end of each day, whatever the number of cases.

    From the roll-ups, a past day whose snapshot beat has not built yet is left out (never
    built in the read); the caller says the trend is incomplete. `current`: today's total of
    `source` at `level` if the caller has counted it already.
    """
    today = timezone.localdate()
    if not (isinstance(source, Selection) and tally.available()):
        return [(day, completion_total(source, level=level, as_of=day)) for day in days]
    versions = tally.built_versions([day for day in days if day < today])
    by_day = _snapshot_sums(source, versions, level)
    extra = source.owned_elsewhere  # an inspector's own cases outside their unit: counted
    points = []
    for day in days:
        if day >= today:
            points.append((day, current or completion_total(source, level=level, as_of=day)))
            continue
        if day not in versions:
            continue
        counts = by_day.get(day, dict.fromkeys(FIGURE_NAMES, 0))
        if extra is not None:
            more = _live_figures(extra, group_by=None, level=level, as_of=day, today=today)
            counts = {n: counts[n] + more[None][1][n] for n in FIGURE_NAMES}
        points.append((day, _row(None, _("合计"), counts)))
    return points


def _snapshot_sums(
    selection: Selection, versions: dict[date, str], level: str
) -> dict[date, Figures]:
    """Every built day's figures of `selection` in one query over the snapshots. A built
    snapshot never changes (`tally.built_versions`), so the sums of the rectification ledgers
    (no grant decides those) are remembered by the query and the days' versions."""
    rows = selection.tally_rows(CompletionSnapshot.objects.filter(day__in=sorted(versions)))
    sums = {name: Sum(f"{level[0]}_{name}") for name in FIGURE_NAMES}
    grouped = rows.order_by().values("day").annotate(**sums)

    def compute() -> dict[date, Figures]:
        return {row["day"]: {name: row[name] or 0 for name in FIGURE_NAMES} for row in grouped}

    if selection.restricted is not False or not versions:
        return compute()
    sql, params = grouped.query.sql_with_params()
    key = ("trend", sql, tuple(map(str, params)), tuple(sorted(versions.items())))
    return dict(tally.kept_sums(key, compute))
