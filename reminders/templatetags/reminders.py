"""Template filters of the reminders' pages. (The top bar's unread count: cases.inbox.)"""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def reminder_kind(value: str) -> str:
    """The label of a reminder kind stored in a notification ("overdue" → 逾期提醒)."""
    from ..models import Reminder

    try:
        return str(Reminder.Kind(value).label)
    except ValueError:
        return value
