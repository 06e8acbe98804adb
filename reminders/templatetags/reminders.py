"""`{% notification_badge %}`: the unread count in the top bar, one COUNT per page render."""

from __future__ import annotations

from typing import Any

from django import template

from .. import selectors

register = template.Library()


@register.inclusion_tag("reminders/_badge.html", takes_context=True)
def notification_badge(context: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return {"unread": selectors.unread_count(user)}


@register.filter
def reminder_kind(value: str) -> str:
    """The label of a reminder kind stored in a notification ("overdue" → 逾期提醒)."""
    from ..models import Reminder

    try:
        return str(Reminder.Kind(value).label)
    except ValueError:
        return value
