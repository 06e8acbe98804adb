"""The channels a digest goes out by: email, a unit's group bot (企业微信/钉钉), in-app.

Each takes the recipient and the live reminders of one message and either sends or raises;
the caller records the outcome. Messages are plain text, one line per case, with a link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cases.models import User

from . import egress, task_deadlines
from .models import Notification, Reminder, UnitWebhook
from .rules import WORKFLOW_KINDS

# WeCom refuses text over 2048 bytes; DingTalk allows ~20000. Keep under both with room.
_TEXT_LIMITS: dict[str, int] = {
    UnitWebhook.Flavour.WECOM: 2000,
    UnitWebhook.Flavour.DINGTALK: 18000,
}
_MAX_LINES = 20  # in a group message; the rest is "and N more"


class DeliveryError(Exception):
    """A channel refused or failed: the message is retried later."""


def case_url(case_id: int) -> str:
    return settings.TRACKER_SITE_URL.rstrip("/") + reverse("cases:detail", args=[case_id])


def deadline_of(reminder: Reminder) -> date:
    """The deadline a reminder is about: its case's, or a task's (its window names it)."""
    if reminder.kind in task_deadlines.task_kinds():
        return task_deadlines.window_deadline(reminder.window) or reminder.case.deadline
    return reminder.case.deadline


def _when(reminder: Reminder, today: date) -> str:
    deadline = deadline_of(reminder)
    days = (deadline - today).days
    if days > 0:
        state = ngettext("还剩 %(days)s 天", "还剩 %(days)s 天", days) % {"days": days}
    elif days == 0:
        state = _("今天到期")
    else:
        state = ngettext("已逾期 %(days)s 天", "已逾期 %(days)s 天", -days) % {"days": -days}
    if reminder.kind in task_deadlines.task_kinds():
        text = _("复核时限 %(deadline)s（%(state)s）")
    else:
        text = _("整改时限 %(deadline)s（%(state)s）")
    return text % {"deadline": deadline.isoformat(), "state": state}


def _reassigned_to(changes: dict[str, Any]) -> str:
    parts = []
    unit = (changes.get("responsible_unit") or [None, None])[1]
    if isinstance(unit, dict):
        parts.append(_("责任单位调整为 %(unit)s") % {"unit": unit.get("name", "")})
    if "owner" in changes:
        owner = changes["owner"][1]
        parts.append(
            _("责任人调整为 %(owner)s") % {"owner": owner.get("name", "")}
            if isinstance(owner, dict)
            else _("责任人已取消")
        )
    return "，".join(parts) or _("责任已调整")


def event_detail(reminder: Reminder) -> str:
    """What happened, for a workflow notification (reminders.events): one short sentence."""
    kind, event = reminder.kind, reminder.event
    if kind == Reminder.Kind.REASSIGNED:
        return _reassigned_to(event.changes if event is not None else {})
    texts: dict[str, str] = {
        Reminder.Kind.SUBMITTED: _("责任单位已申请销号，请及时验收"),
        Reminder.Kind.RETURNED: _("验收未通过，已退回整改，请按意见继续整改"),
        Reminder.Kind.CLOSED: _("已验收销号"),
        Reminder.Kind.EXEMPTED: _("已纳入负面清单/不予整改"),
        Reminder.Kind.REOPENED: _("已重新整改，请继续整改"),
        Reminder.Kind.ESCALATED: _("已提请上级协调，请协调处理"),
        Reminder.Kind.REPLIED: _("责任单位已回复督办"),
    }
    return texts.get(kind, "")


def note_label(kind: str) -> str:
    """How the note of the history row a reminder carries is introduced."""
    if kind == Reminder.Kind.FOLLOW_UP:
        return _("督办意见：%(note)s")
    if kind == Reminder.Kind.REPLIED:
        return _("回复内容：%(note)s")
    return _("说明：%(note)s")


def line(reminder: Reminder, today: date) -> str:
    case = reminder.case
    kind, unit = reminder.get_kind_display(), case.responsible_unit.name
    workflow = reminder.kind in WORKFLOW_KINDS
    state = event_detail(reminder) if workflow else _when(reminder, today)
    text = f"【{kind}】{case.code} {case.title}｜{unit}｜{state}"
    if reminder.event is not None and reminder.event.note:
        text += "\n    " + note_label(reminder.kind) % {"note": reminder.event.note}
    return text


def _unique(reminders: Sequence[Reminder]) -> list[Reminder]:
    """One line per case and kind (a digest can hold two windows of one case)."""
    seen, kept = set(), []
    for reminder in reminders:
        key = (reminder.case_id, reminder.kind, reminder.event_id)
        if key not in seen:
            seen.add(key)
            kept.append(reminder)
    return kept


def _count_title(reminders: Sequence[Reminder]) -> str:
    count = len({reminder.case_id for reminder in reminders})
    return ngettext("%(count)s 个整改问题需要关注", "%(count)s 个整改问题需要关注", count) % {
        "count": count
    }


# --- Email -----------------------------------------------------------------------------------


def send_email(recipient: User, reminders: Sequence[Reminder]) -> None:
    today = timezone.localdate()
    items = _unique(reminders)
    body = [
        _("%(name)s，您好：") % {"name": recipient.get_full_name()},
        "",
        _count_title(items)
        + (
            _("，详情如下：")
            if all(r.kind in WORKFLOW_KINDS for r in items)
            else _("，请按时整改：")
        ),
        "",
    ]
    for reminder in items:
        body += [line(reminder, today), "    " + case_url(reminder.case_id), ""]
    body.append(_("此邮件由整改台账系统自动发送，请勿直接回复。"))
    EmailMessage(
        subject=_("【整改台账】%(title)s") % {"title": _count_title(items)},
        body="\n".join(body),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
    ).send()


# --- Group bots -------------------------------------------------------------------------------


def webhook_text(hook: UnitWebhook, reminders: Sequence[Reminder]) -> str:
    """One line per case; as many as the bot accepts, then "and N more" and the link."""
    today = timezone.localdate()
    items = _unique(reminders)
    title = _count_title(items)
    head = _("【整改提醒】%(unit)s：%(title)s") % {"unit": hook.unit.name, "title": title}
    link = settings.TRACKER_SITE_URL.rstrip("/") + reverse("cases:list")
    lines = [f"{n}. {line(r, today)}" for n, r in enumerate(items, start=1)]
    limit = _TEXT_LIMITS.get(hook.flavour, 2000)
    shown = min(len(lines), _MAX_LINES)
    while True:
        more = len(lines) - shown
        tail = [_("……另有 %(more)s 项，请登录系统查看。") % {"more": more}] if more else []
        text = "\n".join([head, *lines[:shown], *tail, link])
        if len(text.encode("utf-8")) <= limit or shown == 0:
            return text
        shown -= 1


def _signed_url(hook: UnitWebhook) -> str:
    """DingTalk's "加签": timestamp and HMAC-SHA256 signature as query parameters."""
    if hook.flavour != UnitWebhook.Flavour.DINGTALK or not hook.secret:
        return hook.url
    timestamp = str(round(time.time() * 1000))
    digest = hmac.new(
        hook.secret.encode(), f"{timestamp}\n{hook.secret}".encode(), hashlib.sha256
    ).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    separator = "&" if "?" in hook.url else "?"
    return f"{hook.url}{separator}timestamp={timestamp}&sign={sign}"


def send_deadline(hook: UnitWebhook, lease_ends: datetime | None) -> float:
    """Seconds the whole send may take: the bot's own timeout, within the global deadline and
    within half of what is left of the sender's lease (the other half records the outcome),
    so the lease never runs out mid-send and no second sender sends the message again."""
    seconds = min(float(hook.timeout_seconds), float(settings.WEBHOOK_SEND_DEADLINE_SECONDS))
    if lease_ends is not None:
        seconds = min(seconds, (lease_ends - timezone.now()).total_seconds() / 2)
    return seconds


def send_webhook(
    hook: UnitWebhook, reminders: Sequence[Reminder], *, lease_ends: datetime | None = None
) -> None:
    """POST a text message; WeCom and DingTalk bots take the same body and both answer
    {"errcode": 0} on success. Only to an address the egress policy permits, and what is
    recorded of a failure is its class and status, never the answer's text (an internal
    service's answer must not reach the admin through an error message)."""
    seconds = send_deadline(hook, lease_ends)
    if seconds <= 0:
        raise DeliveryError(_("占用期将满，未发送。"))
    payload = {"msgtype": "text", "text": {"content": webhook_text(hook, reminders)}}
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "tracker-bot"}
    try:
        status, raw = egress.post(_signed_url(hook), body, headers, seconds=seconds)
    except egress.EgressError as error:
        raise DeliveryError(str(error)) from None
    if 300 <= status < 400:
        raise DeliveryError(_("HTTP %(status)s：不跟随重定向。") % {"status": status})
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")
    try:
        answer: Any = json.loads(raw or b"{}")
    except ValueError:
        raise DeliveryError(_("应答不是 JSON。")) from None
    errcode = answer.get("errcode", 0) if isinstance(answer, dict) else 0
    if errcode not in (0, "0"):
        # The bot's numeric code says what went wrong (45009: rate limit); its errmsg is text
        # from the other side and is not recorded.
        code = str(errcode) if str(errcode).lstrip("-").isdigit() else "?"
        raise DeliveryError(f"errcode {code[:12]}")


# --- In-app -----------------------------------------------------------------------------------


def in_app_notification(recipient: User, reminders: Sequence[Reminder]) -> Notification:
    """The notification to store (unsaved: the caller saves it with the outcome)."""
    items = _unique(reminders)
    return Notification(
        user=recipient,
        title=_count_title(items),
        items=[
            {
                "case": r.case_id,
                "code": r.case.code,
                "title": r.case.title,
                "kind": r.kind,
                "deadline": deadline_of(r).isoformat(),
                "note": r.event.note if r.event is not None else "",
                # What happened, for a workflow notification ("" for a deadline's reminder).
                "detail": event_detail(r) if r.kind in WORKFLOW_KINDS else "",
            }
            for r in items
        ],
    )


def describe(error: BaseException) -> str:
    """An error as recorded on the message: the reason without URLs or secrets."""
    if isinstance(error, DeliveryError):
        return str(error)
    return f"{type(error).__name__}: {error}"[:2000]
