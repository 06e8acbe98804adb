"""`{% inbox_badge %}`: the top bar's link to 待办 with the number of things waiting, a bounded
number of queries per page render (cases.inbox). Shown to supervisors only: nothing else is
ever addressed to the other roles' inboxes."""

from __future__ import annotations

from typing import Any

from django import template

from ..inbox import Inbox

register = template.Library()


@register.inclusion_tag("cases/_inbox_badge.html", takes_context=True)
def inbox_badge(context: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    box = Inbox(user)
    return {"shown": box.active, "waiting": box.total if box.active else 0}
