"""The deadline light (红黄绿灯): the one definition, rendered for each way it is asked.

On a reference day, a case that is done is green; a case not done is placed by its deadline
against two boundary dates of that day (`Bounds`):

    red     deadline <= bounds.red               (past the day it was due)
    yellow  bounds.red < deadline <= bounds.soon  (due within the due-soon window)
    green   bounds.soon < deadline                (or done)

The boundaries count days as the case's inspection says (`Inspection.working_days`), on the
calendar of reminders (`reminders.calendar`, the site's calendar: the national one plus the
site-wide 节假日与调休 rows), with the window `settings.DUE_SOON_DAYS` (`TRACKER_DUE_SOON_DAYS`):

- calendar days: red = the day before, soon = the day plus the window;
- working days: a deadline on a day off is due on the next working day (`due_day`), so
  red = the last working day before the day (a deadline up to it was due before today), and
  soon = the last deadline due within the next `window` working days (the working day
  before the window + 1st working day after the day). Same formulas, the calendar's days:
  `bounds_on(day, window, calendar)`.

Three renderings of the same comparison, so no path can drift from the others:
- `light_of`: one case in Python (the model, the API's `light` field, the Excel export);
- `light_q`: a Django filter (the list's `light` filter, the completion figures counted live,
  also on a past day's state rebuilt from the history);
- `light_sql`: a SQL condition (the roll-ups' rebuild, their snapshots and their triggers, where
  the boundaries are SQL expressions: the triggers read them from `cases_tallyday`, which beat's
  rebuild writes from the calendar, so no trigger holds a setting or a calendar).

Per-unit calendar rows (a county's local holiday) are not used here: lights, overdue days and
the on-time flag count the site's calendar, so a case has one light whoever looks at it and the
roll-ups need no per-unit table. Reminders do honour them (`WorkCalendar.for_unit`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .workflow import DONE_STATES, OPEN_STATES

if TYPE_CHECKING:
    from reminders.calendar import CalendarDays

LIGHTS = ("red", "yellow", "green")
DONE_LIGHT = "green"  # whatever its deadline
# For filters, pages and the export's light column.
CHOICES = [("red", _("红灯（逾期）")), ("yellow", _("黄灯（临期）")), ("green", _("绿灯"))]

_DONE_SQL = ", ".join(f"'{state}'" for state in sorted(DONE_STATES))
# Seconds a process keeps a day's working-day boundaries; a CalendarDay write in the process
# forgets them at once (`forget`), other processes follow within this time.
MEMO_SECONDS = 60


def window_days(window: int | None = None) -> int:
    """The due-soon window in days: `window`, or the setting as it is now."""
    return settings.DUE_SOON_DAYS if window is None else window


@dataclass(frozen=True)
class Bounds:
    """The latest deadline that is red and the latest that is yellow, on one day."""

    red: date
    soon: date


def bounds_on(day: date, window: int, days: CalendarDays) -> Bounds:
    """The boundaries of `day` with a window of `window` counted days, on `days`' calendar."""
    return Bounds(red=days.previous(day), soon=days.previous(days.add(day, window + 1)))


class DayBounds:
    """A day's boundaries in both modes; the working-day ones read the calendar when first
    asked (calendar days need no query)."""

    def __init__(self, day: date, window: int) -> None:
        self.day, self.window = day, window
        self.calendar = Bounds(red=day - timedelta(days=1), soon=day + timedelta(days=window))

    @cached_property
    def working(self) -> Bounds:
        from reminders.calendar import WorkCalendar

        return bounds_on(self.day, self.window, WorkCalendar())

    def of(self, working_days: bool) -> Bounds:
        return self.working if working_days else self.calendar


_memo: dict[tuple[date, int], tuple[float, DayBounds]] = {}
_memo_lock = threading.Lock()


def day_bounds(day: date | None = None, window: int | None = None) -> DayBounds:
    """The boundaries of `day` (today if None) with `window` (the setting if None)."""
    key = (day or timezone.localdate(), window_days(window))
    now = time.monotonic()
    with _memo_lock:
        found = _memo.get(key)
        if found is not None and found[0] > now:
            return found[1]
        if len(_memo) > 64:
            _memo.clear()
        bounds = DayBounds(*key)
        _memo[key] = (now + MEMO_SECONDS, bounds)
        return bounds


def forget(**_kwargs: object) -> None:
    """Drop the remembered boundaries (a CalendarDay row changed)."""
    with _memo_lock:
        _memo.clear()


def _check(light: str) -> None:
    if light not in LIGHTS:
        raise ValueError(f"unknown light {light!r}: one of {', '.join(LIGHTS)}")


def light_by(status: str, deadline: date, bounds: Bounds) -> str:
    """The light of a case with this status and deadline, against `bounds`."""
    if status in DONE_STATES:
        return DONE_LIGHT
    if deadline <= bounds.red:
        return "red"
    return "yellow" if deadline <= bounds.soon else "green"


def light_of(
    status: str,
    deadline: date,
    today: date,
    window: int | None = None,
    *,
    working_days: bool = False,
) -> str:
    """The light of one case with this status and deadline, on `today`, counting working
    days if `working_days` (its inspection's)."""
    return light_by(status, deadline, day_bounds(today, window).of(working_days))


def _placed(light: str, bounds: Bounds, deadline: str) -> Q:
    if light == "red":
        return Q(**{f"{deadline}__lte": bounds.red})
    if light == "yellow":
        return Q(**{f"{deadline}__gt": bounds.red, f"{deadline}__lte": bounds.soon})
    return Q(**{f"{deadline}__gt": bounds.soon})


def light_q(
    light: str,
    day: date | None = None,
    *,
    window: int | None = None,
    status: str = "status",
    deadline: str = "deadline",
    working: str = "inspection__working_days",
) -> Q:
    """The cases of `light` on `day` (today if None), as a filter over the fields (or the
    annotations) named; `working` is the case's inspection's working-day flag."""
    _check(light)
    found = day_bounds(day, window)
    done = Q(**{f"{status}__in": DONE_STATES})
    # Not done, named as the open states (the same cases: every status is one or the other):
    # an index on (unit, status) then reads only a unit's open cases, where NOT IN read them
    # all and PostgreSQL preferred to AND a bitmap of every open case's deadline.
    undone = Q(**{f"{status}__in": OPEN_STATES})
    if found.calendar == found.working:  # no day off in reach: one comparison, no join
        placed = _placed(light, found.calendar, deadline)
    else:
        placed = (Q(**{working: False}) & _placed(light, found.calendar, deadline)) | (
            Q(**{working: True}) & _placed(light, found.working, deadline)
        )
        # The range both calendars' cases fall in, outside the OR: the same cases, but the
        # deadline index reads a week of deadlines, not every one from the day on.
        reds, soons = (
            (found.calendar.red, found.working.red),
            (found.calendar.soon, found.working.soon),
        )
        placed &= {
            "red": Q(**{f"{deadline}__lte": max(reds)}),
            "yellow": Q(**{f"{deadline}__gt": min(reds), f"{deadline}__lte": max(soons)}),
        }.get(light, Q(**{f"{deadline}__gt": min(soons)}))
    return done | (undone & placed) if light == DONE_LIGHT else undone & placed


def light_sql(
    light: str,
    *,
    status: str,
    deadline: str,
    day: str | None = None,
    window: str | None = None,
    red: str | None = None,
    soon: str | None = None,
) -> str:
    """The cases of `light` as a SQL condition over the expressions given: `status` and
    `deadline` the case's, and either the boundaries `red` and `soon` (dates) or, counting
    calendar days, `day` (a date) and `window` (an integer); literals, parameters or the
    columns of `cases_tallyday`. A NULL status (no case then) is no light."""
    _check(light)
    if red is None or soon is None:
        red, soon = f"({day} - 1)", f"({day} + {window})"
    placed = {
        "red": f"{deadline} <= {red}",
        "yellow": f"{deadline} > {red} AND {deadline} <= {soon}",
        "green": f"{deadline} > {soon}",
    }[light]
    condition = f"{status} NOT IN ({_DONE_SQL}) AND {placed}"
    if light == DONE_LIGHT:
        condition = f"{status} IN ({_DONE_SQL}) OR ({condition})"
    return f"({status} IS NOT NULL AND ({condition}))"


def days_overdue(deadline: date, today: date, *, working_days: bool = False) -> int:
    """Days past the day `deadline` is due, up to `today` (working days, on the site's
    calendar, if `working_days`); 0 if not past it."""
    from reminders.calendar import CalendarDays, WorkCalendar

    days = WorkCalendar() if working_days else CalendarDays()
    return days.days_late(deadline, today)
