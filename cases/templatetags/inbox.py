"""`{% top_bar_badges %}`: the top bar's links to 待办 (supervisors: the number of things
waiting) and to 通知 (the unread notifications), both counted in one query per page render
(`cases.inbox.top_bar_counts`)."""

from __future__ import annotations

from typing import Any

from django import template

from ..inbox import top_bar_counts

register = template.Library()


@register.inclusion_tag("cases/_top_bar_badges.html", takes_context=True)
def top_bar_badges(context: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if not getattr(user, "is_authenticated", False):
        return {"shown": False, "waiting": 0, "unread": 0}
    counts = top_bar_counts(user)
    return {"shown": "to_verify" in counts, "waiting": counts["total"], "unread": counts["unread"]}
