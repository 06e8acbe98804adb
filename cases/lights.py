"""The deadline light (红黄绿灯): the one definition, rendered for each way it is asked.

The rule is data (`RULE`): a case that is done is green; a case not done is placed by its days
left (deadline minus the reference day) into one of three bands, whose bounds are counted in
days from the reference day, some of them plus the due-soon window
(`settings.DUE_SOON_DAYS`, from `TRACKER_DUE_SOON_DAYS`):

    red     days left <= -1              (past the deadline)
    yellow  0 <= days left <= window     (due within the window, the deadline day included)
    green   window + 1 <= days left      (or done)

Three renderings of the same table, so no path can drift from the others:
- `light_of`: one case in Python (the model, the API's `light` field, the Excel export);
- `light_q`: a Django filter (the list's `light` filter, the completion figures counted live,
  also on a past day's state rebuilt from the history);
- `light_sql`: a SQL condition (the roll-ups' rebuild, their snapshots and their triggers, where
  the day and the window are SQL expressions: the triggers read both from `cases_tallyday`, so no
  trigger holds a setting's value).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .workflow import DONE_STATES

# A bound is (days, plus_window): that many days after the reference day, plus the due-soon
# window if plus_window. Bounds are inclusive; None is unbounded.
Bound = tuple[int, bool]
RULE: dict[str, tuple[Bound | None, Bound | None]] = {
    "red": (None, (-1, False)),
    "yellow": ((0, False), (0, True)),
    "green": ((1, True), None),
}
DONE_LIGHT = "green"  # whatever its deadline
LIGHTS = tuple(RULE)
# For filters, pages and the export's light column.
CHOICES = [("red", _("红灯（逾期）")), ("yellow", _("黄灯（临期）")), ("green", _("绿灯"))]

_DONE_SQL = ", ".join(f"'{state}'" for state in sorted(DONE_STATES))


def window_days(window: int | None = None) -> int:
    """The due-soon window in days: `window`, or the setting as it is now."""
    return settings.DUE_SOON_DAYS if window is None else window


def _days(bound: Bound, window: int) -> int:
    offset, plus_window = bound
    return offset + (window if plus_window else 0)


def _check(light: str) -> tuple[Bound | None, Bound | None]:
    if light not in RULE:
        raise ValueError(f"unknown light {light!r}: one of {', '.join(LIGHTS)}")
    return RULE[light]


def light_of(status: str, deadline: date, today: date, window: int | None = None) -> str:
    """The light of one case with this status and deadline, on `today`."""
    if status in DONE_STATES:
        return DONE_LIGHT
    left = (deadline - today).days
    span = window_days(window)
    for light, (low, high) in RULE.items():
        above = low is None or left >= _days(low, span)
        if above and (high is None or left <= _days(high, span)):
            return light
    raise AssertionError("the bands of RULE cover every number of days")  # pragma: no cover


def light_q(
    light: str,
    day: date | None = None,
    *,
    window: int | None = None,
    status: str = "status",
    deadline: str = "deadline",
) -> Q:
    """The cases of `light` on `day` (today if None), as a filter over the fields (or the
    annotations) named."""
    low, high = _check(light)
    day = day or timezone.localdate()
    span = window_days(window)
    done = Q(**{f"{status}__in": DONE_STATES})
    placed = ~done
    if low is not None:
        placed &= Q(**{f"{deadline}__gte": day + timedelta(days=_days(low, span))})
    if high is not None:
        placed &= Q(**{f"{deadline}__lte": day + timedelta(days=_days(high, span))})
    return done | placed if light == DONE_LIGHT else placed


def _sql_bound(bound: Bound, day: str, window: str) -> str:
    offset, plus_window = bound
    expr = f"{day} + {window}" if plus_window else day
    if offset:
        expr += f" {'+' if offset > 0 else '-'} {abs(offset)}"
    return f"({expr})"


def light_sql(light: str, *, status: str, deadline: str, day: str, window: str) -> str:
    """The cases of `light` as a SQL condition over the expressions given: `status` and
    `deadline` the case's, `day` a date and `window` an integer (literals, parameters or the
    columns of `cases_tallyday`). A NULL status (no case then) is no light."""
    low, high = _check(light)
    placed = [f"{status} NOT IN ({_DONE_SQL})"]
    if low is not None:
        placed.append(f"{deadline} >= {_sql_bound(low, day, window)}")
    if high is not None:
        placed.append(f"{deadline} <= {_sql_bound(high, day, window)}")
    condition = " AND ".join(placed)
    if light == DONE_LIGHT:
        condition = f"{status} IN ({_DONE_SQL}) OR ({condition})"
    return f"({status} IS NOT NULL AND ({condition}))"
