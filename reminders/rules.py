"""Which reminder a case is due for today: pure functions of the deadline, the date, the
policy and the calendar, so every rule can be tested for any day without a database.

- due_soon: the deadline is within one of the configured distances (default 7 and 1 days).
  The window is the tightest distance reached, so each distance is reminded once, and a sweep
  that missed a day (downtime) still sends the reminder of the band it is now in.
- overdue: on the first day past the deadline, then every `overdue_every` days (default 7).
- escalation: once more than `escalation_after` days overdue (default 14), the overdue
  reminders become escalations, which also go to the supervising unit's supervisors; same
  cadence, counted from the threshold.

Each window names the deadline it counts from ("2026-12-07/o1"), so extending a deadline
starts the reminders afresh. In working-day mode every count is in working days and nothing
is due on a day off: people are reminded when they are at work; a deadline that falls on a
day off is due on the next working day (`CalendarDays.due_day`, as the lights count it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.utils.translation import gettext as _

from .calendar import CalendarDays

DUE_SOON = "due_soon"
OVERDUE = "overdue"
ESCALATION = "escalation"


@dataclass(frozen=True)
class Policy:
    due_soon_days: tuple[int, ...] = (7, 1)
    overdue_every: int = 7
    escalation_after: int = 14
    working_days: bool = False
    # 待上级协调 cases wait on a higher level, not on the unit: remind them or not.
    remind_escalated: bool = False

    def __post_init__(self) -> None:
        days = tuple(sorted({int(d) for d in self.due_soon_days if int(d) >= 0}, reverse=True))
        object.__setattr__(self, "due_soon_days", days)
        object.__setattr__(self, "overdue_every", max(1, int(self.overdue_every)))
        object.__setattr__(self, "escalation_after", max(0, int(self.escalation_after)))

    @classmethod
    def from_settings(cls) -> Policy:
        return cls(
            due_soon_days=tuple(settings.REMINDER_DUE_SOON_DAYS),
            overdue_every=settings.REMINDER_OVERDUE_EVERY_DAYS,
            escalation_after=settings.REMINDER_ESCALATION_DAYS,
            working_days=settings.REMINDER_WORKING_DAYS,
            remind_escalated=settings.REMINDER_REMIND_ESCALATED,
        )

    @property
    def horizon(self) -> int:
        """The farthest distance to a deadline that can be due soon."""
        return self.due_soon_days[0] if self.due_soon_days else -1


@dataclass(frozen=True)
class Due:
    kind: str
    window: str


def reminder_due(deadline: date, today: date, policy: Policy, days: CalendarDays) -> Due | None:
    """The reminder an open case with this deadline is due for today, if any."""
    if not days.is_working(today):
        return None
    due = days.due_day(deadline)  # a deadline on a day off is due the next working day
    if due >= today:
        left = days.between(today, due)
        bands = [n for n in policy.due_soon_days if n >= left]
        if not bands:
            return None
        return Due(DUE_SOON, f"{deadline.isoformat()}/d{min(bands)}")
    past = days.between(due, today)
    if past < 1:
        return None
    if past > policy.escalation_after:
        period = (past - policy.escalation_after - 1) // policy.overdue_every
        return Due(ESCALATION, f"{deadline.isoformat()}/e{period}")
    return Due(OVERDUE, f"{deadline.isoformat()}/o{(past - 1) // policy.overdue_every}")


def window_deadline(window: str) -> str | None:
    """The deadline a rule's window counts from ("2026-12-07"); None for a follow-up."""
    head, sep, _tail = window.partition("/")
    return head if sep else None


def describe_window(window: str) -> str:
    """A window for people: "2026-12-07/d7" → "时限 2026-12-07，到期前 7 天"."""
    deadline, sep, period = window.partition("/")
    if "/" in period:  # a task's window, "recheck-12/<deadline>/d1" (reminders.task_deadlines)
        return describe_window(period)
    if not sep or not period[1:].isdigit():
        return ""
    number = int(period[1:])
    text = {
        "d": _("到期前 %(n)s 天") % {"n": number},
        "o": _("逾期第 %(n)s 轮") % {"n": number + 1},
        "e": _("升级督办第 %(n)s 轮") % {"n": number + 1},
    }.get(period[0], period)
    return _("时限 %(deadline)s，%(period)s") % {"deadline": deadline, "period": text}


def follow_up_window(event_id: int) -> str:
    """The window of a reminder about one history event (a follow-up, a workflow move)."""
    return f"event-{event_id}"


# The workflow moves that tell someone (reminders.events), by the move's name
# (cases.workflow): starting and resuming are the unit's own business and tell nobody.
MOVE_KINDS = {
    "submit": "submitted",
    "return": "returned",
    "close": "closed",
    "exempt": "exempted",
    "reopen": "reopened",
    "escalate": "escalated",
}
WORKFLOW_KINDS = frozenset({*MOVE_KINDS.values(), "reassigned", "replied"})
# A request to act that is moot once the case has left the state it asked about: a 待验收
# notice for a case already closed or returned is not sent (the rest tell of what happened,
# which stays true, and are sent even when the case is done).
WAITS_IN_STATUS = {"submitted": "submitted"}


def event_is_stale(kind: str, status: str) -> bool:
    wanted = WAITS_IN_STATUS.get(kind)
    return wanted is not None and status != wanted


def statuses_to_remind(policy: Policy, open_states: Iterable[str], escalated: str) -> list[str]:
    return sorted(s for s in open_states if policy.remind_escalated or s != escalated)
