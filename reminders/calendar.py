"""Counting days: calendar days, or working days with the holiday calendar (节假日与调休).

A working day is Monday to Friday unless it is a holiday, or a weekend day listed as worked in
exchange (调休上班). `WorkCalendar` reads the admin-maintained `CalendarDay` rows once for the
range it is asked about, then answers in memory: a sweep over thousands of cases costs one query.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

# Long enough for any deadline a sweep looks at in one go; beyond it we query again.
_SPAN = timedelta(days=400)


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
    """Working days, per the holiday calendar."""

    working_days = True

    def __init__(self, overrides: Mapping[date, str] | None = None, *, load: bool = True) -> None:
        # date -> "holiday" | "workday"; loaded lazily per span unless given (pure tests).
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
        kind = self._overrides.get(day)
        if kind == "holiday":
            return False
        if kind == "workday":
            return True
        return day.weekday() < 5

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
