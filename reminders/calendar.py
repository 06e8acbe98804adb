"""Counting days: calendar days, or working days (节假日与调休).

Whether a day is a working day is answered by one function, `is_working_day`, in this order:

1. the overrides, the `CalendarDay` rows kept in the admin (节假日与调休): a unit's own (a
   local holiday of a county, which its departments share: the nearest unit up the tree with a
   row for the day wins), else the site's (no unit: every unit), e.g. a day the State
   Council's notice moved that the library does not know yet;
2. the national calendar of the `chinesecalendar` package (holidays and make-up working days,
   调休, from the State Council's yearly notices; it covers 2004 up to the year of its last
   release, 2026 for 1.11.0);
3. outside the library's years: Monday to Friday, with a warning in the log once per year and
   process. Keep the package up to date (a release follows each notice, usually in November),
   or enter the new year's days in the admin until it does.

A deadline that falls on a day off is due on the next working day in working-day mode
(`due_day`): reminders, the deadline lights (`cases.lights`), the days overdue and the
on-time flag all count from that day.

`WorkCalendar` reads the override rows of every unit once for the range it is asked about,
then answers in memory: a sweep over thousands of cases of hundreds of units costs one query.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import chinese_calendar

from cases.models import path_ids

logger = logging.getLogger(__name__)

# CalendarDay.Kind values (kept as strings: this module is imported by the models' app).
HOLIDAY = "holiday"
WORKDAY = "workday"

# Long enough for any deadline a sweep looks at in one go; beyond it we query again.
_SPAN = timedelta(days=400)


@functools.cache
def _warn_not_covered(year: int) -> None:
    logger.warning(
        "chinesecalendar %s has no holiday schedule for %s: counting Monday to Friday as "
        "working days, plus the days entered in the admin (节假日与调休). Upgrade the package "
        "once the State Council's notice is out, or enter that year's days in the admin.",
        getattr(chinese_calendar, "__version__", "?"),
        year,
    )


def is_working_day(
    day: date, overrides: Mapping[date, str] | None = None, *, unit: Any = None
) -> bool:
    """The one answer to "do people work on `day`": the override if there is one
    (`overrides`, date -> "holiday" | "workday"; None reads the CalendarDay rows that apply to
    `unit`, or the site's when no unit is given), else the national calendar, else (a year the
    library does not cover) Monday to Friday."""
    if overrides is None:
        return WorkCalendar(unit_path=getattr(unit, "path", "")).is_working(day)
    kind = overrides.get(day)
    if kind == HOLIDAY:
        return False
    if kind == WORKDAY:
        return True
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # a year outside the package's data
        _warn_not_covered(day.year)
        return day.weekday() < 5


class OverrideRows:
    """The CalendarDay rows, by unit (None: the site's, for every unit), read a span at a time
    for every unit at once: one query per span however many units a sweep meets."""

    def __init__(self, site: Mapping[date, str] | None = None, *, load: bool = True) -> None:
        self._by_unit: dict[int | None, dict[date, str]] = {None: dict(site or {})}
        self._paths: dict[int, str] = {}
        self._loaded: list[tuple[date, date]] = [] if load else [(date.min, date.max)]

    def _ensure(self, day: date) -> None:
        if any(start <= day <= end for start, end in self._loaded):
            return
        from .models import CalendarDay

        start, end = day - _SPAN, day + _SPAN
        rows = CalendarDay.objects.filter(date__range=(start, end)).values_list(
            "unit_id", "unit__path", "date", "kind"
        )
        for unit_id, path, when, kind in rows:
            self._by_unit.setdefault(unit_id, {})[when] = kind
            if unit_id is not None:
                self._paths[unit_id] = path
        self._loaded.append((start, end))

    def kind(self, day: date, units: list[int]) -> str | None:
        """The override of `day` for a unit whose path holds `units` (root first): the
        nearest unit's own row, else an ancestor's, else the site's."""
        self._ensure(day)
        for unit_id in reversed(units):
            kind = self._by_unit.get(unit_id, {}).get(day)
            if kind is not None:
                return kind
        return self._by_unit[None].get(day)

    def unit_paths(self, day: date) -> list[str]:
        """The paths of the units with rows of their own in the span around `day`."""
        self._ensure(day)
        return sorted(self._paths.values())


class CalendarDays:
    """Plain calendar days: the default mode."""

    working_days = False

    def is_working(self, day: date) -> bool:
        return True

    def for_unit(self, unit: Any) -> CalendarDays:
        """The calendar of `unit` (a Unit): calendar days are everybody's."""
        return self

    def variants(self, day: date) -> list[CalendarDays]:
        """Every distinct calendar in use around `day`: the site's and each unit's that has
        overrides of its own."""
        return [self]

    def between(self, start: date, end: date) -> int:
        """Days d with start < d <= end (negative when end is before start)."""
        return (end - start).days

    def add(self, start: date, days: int) -> date:
        return start + timedelta(days=days)

    def due_day(self, deadline: date) -> date:
        """The day a deadline is due: the deadline itself in calendar days."""
        return deadline

    def previous(self, day: date) -> date:
        """The last counted day before `day`."""
        return day - timedelta(days=1)

    def days_late(self, deadline: date, today: date) -> int:
        """Counted days past the day `deadline` is due (`due_day`), up to `today`; 0 if not
        past it."""
        return max(0, self.between(self.due_day(deadline), today))


class WorkCalendar(CalendarDays):
    """Working days, per `is_working_day`, for the units under `unit_path` (the site's
    calendar when it is empty): the overrides of the unit or its nearest ancestor that has one
    for the day win over the site's."""

    working_days = True

    def __init__(
        self,
        overrides: Mapping[date, str] | None = None,
        *,
        load: bool = True,
        unit_path: str = "",
        rows: OverrideRows | None = None,
    ) -> None:
        # `overrides`: the site's rows, given (pure tests, with load=False) or read lazily per
        # span; `rows` shares one store between the calendars of many units.
        self._rows = rows if rows is not None else OverrideRows(overrides, load=load)
        self._units = path_ids(unit_path)

    def is_working(self, day: date) -> bool:
        kind = self._rows.kind(day, self._units)
        return is_working_day(day, {day: kind} if kind else {})

    def for_unit(self, unit: Any) -> WorkCalendar:
        return WorkCalendar(unit_path=unit.path, rows=self._rows)

    def variants(self, day: date) -> list[CalendarDays]:
        return [
            self,
            *(WorkCalendar(unit_path=path, rows=self._rows) for path in self._rows.unit_paths(day)),
        ]

    def between(self, start: date, end: date) -> int:
        """Working days d with start < d <= end; negative (counted the other way) when end
        is before start."""
        if end < start:
            return -self.between(end, start)
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working(day)
        return count

    def add(self, start: date, days: int) -> date:
        """The date `days` working days after `start` (days >= 0)."""
        day = start
        while days > 0:
            day += timedelta(days=1)
            days -= self.is_working(day)
        return day

    def due_day(self, deadline: date) -> date:
        """A deadline that falls on a day off is due on the next working day (as a period
        ending on a holiday ends on the day after it, 民法典第二百零三条)."""
        day = deadline
        while not self.is_working(day):
            day += timedelta(days=1)
        return day

    def previous(self, day: date) -> date:
        """The last working day before `day`."""
        day -= timedelta(days=1)
        while not self.is_working(day):
            day -= timedelta(days=1)
        return day


def calendar_for(working_days: bool) -> CalendarDays:
    return WorkCalendar() if working_days else CalendarDays()
