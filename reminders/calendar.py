"""Counting days: calendar days, or working days (节假日与调休).

Whether a day is a working day is answered by one function, `is_working_day`, in this order:

1. the site's own overrides, the `CalendarDay` rows kept in the admin (节假日与调休): a local
   holiday, or a day the State Council's notice moved that the library does not know yet;
2. the national calendar of the `chinesecalendar` package (holidays and make-up working days,
   调休, from the State Council's yearly notices; it covers 2004 up to the year of its last
   release, 2026 for 1.11.0);
3. outside the library's years: Monday to Friday, with a warning in the log once per year and
   process. Keep the package up to date (a release follows each notice, usually in November),
   or enter the new year's days in the admin until it does.

`WorkCalendar` reads the override rows once for the range it is asked about, then answers in
memory: a sweep over thousands of cases costs one query.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from datetime import date, timedelta

import chinese_calendar

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


def is_working_day(day: date, overrides: Mapping[date, str] | None = None) -> bool:
    """The one answer to "do people work on `day`": the site's override if there is one
    (`overrides`, date -> "holiday" | "workday"; None reads the day's CalendarDay row), else
    the national calendar, else (a year the library does not cover) Monday to Friday."""
    if overrides is None:
        from .models import CalendarDay

        overrides = dict(CalendarDay.objects.filter(date=day).values_list("date", "kind"))
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


class CalendarDays:
    """Plain calendar days: the default mode."""

    working_days = False

    def is_working(self, day: date) -> bool:
        return True

    def between(self, start: date, end: date) -> int:
        """Days d with start < d <= end (negative when end is before start)."""
        return (end - start).days

    def add(self, start: date, days: int) -> date:
        return start + timedelta(days=days)


class WorkCalendar(CalendarDays):
    """Working days, per `is_working_day`."""

    working_days = True

    def __init__(self, overrides: Mapping[date, str] | None = None, *, load: bool = True) -> None:
        # The site's overrides, date -> "holiday" | "workday"; loaded lazily per span unless
        # given (pure tests).
        self._overrides: dict[date, str] = dict(overrides or {})
        self._loaded: list[tuple[date, date]] = [] if load else [(date.min, date.max)]

    def _ensure(self, day: date) -> None:
        if any(start <= day <= end for start, end in self._loaded):
            return
        from .models import CalendarDay

        start, end = day - _SPAN, day + _SPAN
        rows = CalendarDay.objects.filter(date__range=(start, end)).values_list("date", "kind")
        self._overrides.update(dict(rows))
        self._loaded.append((start, end))

    def is_working(self, day: date) -> bool:
        self._ensure(day)
        return is_working_day(day, self._overrides)

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


def calendar_for(working_days: bool) -> CalendarDays:
    return WorkCalendar() if working_days else CalendarDays()
