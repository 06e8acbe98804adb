"""`{% top_bar_badges %}`: the top bar's links to 待办 (supervisors) and to 通知, without their
counts: once the page has loaded it asks `cases:top-bar` for them (htmx), so that no page
waits on counting a province's waiting cases. Without JavaScript the links stay, uncounted."""

from __future__ import annotations

from typing import Any

from django import template

from ..inbox import Inbox

register = template.Library()


@register.inclusion_tag("cases/_top_bar_badges.html", takes_context=True)
def top_bar_badges(context: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if not getattr(user, "is_authenticated", False):
        return {"signed_in": False}
    return {"signed_in": True, "shown": Inbox(user).active, "counted": False}
