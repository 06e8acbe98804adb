"""Follow-ups (督办) answered: the responsible unit's reply, and who has read each follow-up.

- `follow_up_reply` (a write, as the services in cases.services: the case row locked, a
  history row of kind `reply` that names the follow-up it answers, its notification to the
  follow-up's author in the same transaction);
- `case_follow_ups` (a read, scoped as every case read): per follow-up, its recipients with
  when their in-app notification was delivered and read (a notification is read by a POST on
  the notification page, never by opening anything), and the replies.

A reply is for the unit's people: its owner, or an inspector or supervisor of the responsible
unit or of a unit above it that sees the case. The commission that followed up reads the
replies; it does not answer itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from reminders.events import remind_event
from reminders.models import Channel, DeliveryStatus, Reminder
from reminders.rules import follow_up_window

from . import selectors
from .errors import Forbidden, InvalidInput, NotFound
from .history import append_event
from .models import Case, CaseEvent
from .services import _lock  # every case write starts there (lock, date, order)
from .workflow import Role

NOTE_MAX = 2000


def may_reply(user: Any, case: Case) -> bool:
    """Whether `user` answers for the case's unit (the case being one they may see)."""
    if selectors.user_role(user) not in (Role.INSPECTOR, Role.SUPERVISOR):
        return False
    if case.owner_id is not None and case.owner_id == user.pk:
        return True
    return user.unit_id is not None and user.unit_id in case.responsible_unit.lineage


@transaction.atomic
def follow_up_reply(
    *, actor: Any, case_id: int, follow_up_id: Any, note: str, at: datetime | None = None
) -> CaseEvent:
    """The unit answers a follow-up with a note (回复督办). 404: the case is not the actor's
    to see, or the follow-up is not one of its; 403: the actor does not answer for the unit;
    400: an empty or too long note."""
    case, at = _lock(actor, case_id, at)
    if not may_reply(actor, case):
        raise Forbidden(_("只有责任单位的人员可以回复督办。"))
    follow_up = _follow_up_of(case, follow_up_id)
    note = note.strip()
    if not note:
        message = _("请填写回复内容。")
        raise InvalidInput(message, fields={"note": [message]})
    if len(note) > NOTE_MAX:
        message = _("回复内容不能超过 %(max)s 字。") % {"max": NOTE_MAX}
        raise InvalidInput(message, fields={"note": [message]})
    event = append_event(
        case,
        actor=actor,
        kind=CaseEvent.Kind.REPLY,
        at=at,
        note=note,
        changes={"follow_up": [None, follow_up.pk]},
    )
    remind_event(event=event, at=at)
    return event


def _follow_up_of(case: Case, follow_up_id: Any) -> CaseEvent:
    try:
        return CaseEvent.objects.get(
            pk=int(follow_up_id), case_id=case.pk, kind=CaseEvent.Kind.FOLLOW_UP
        )
    except (CaseEvent.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound(_("未找到该督办。")) from None


# --- Reads ------------------------------------------------------------------------------------


@dataclass
class FollowUpThread:
    """One follow-up, its readers (in-app reminders, labelled) and its replies (events)."""

    event: CaseEvent
    readers: list[Reminder] = field(default_factory=list)
    replies: list[CaseEvent] = field(default_factory=list)

    @property
    def read_count(self) -> int:
        return len([r for r in self.readers if getattr(r, "read_at", None) is not None])


def reader_state(reminder: Reminder) -> str:
    """A recipient's in-app notification of the follow-up: read, unread, or not delivered."""
    if getattr(reminder, "read_at", None) is not None:
        return "read"
    if reminder.status == DeliveryStatus.SENT:
        return "unread"
    return str(reminder.status)  # pending, failed, cancelled


def case_follow_ups(user: Any, case_id: Any) -> list[FollowUpThread]:
    """A visible case's follow-ups, oldest first, each with who received it in-app and when
    they read it, and the unit's replies; people labelled as `user` may see them. NotFound for
    a case the user may not see. Four queries, whatever the number of follow-ups."""
    case = selectors.case_get(user, case_id)
    events = selectors.label_people(
        user,
        case.events.filter(kind__in=[CaseEvent.Kind.FOLLOW_UP, CaseEvent.Kind.REPLY])
        .select_related("actor", "actor_unit")
        .order_by("created_at", "id"),
        "actor",
        unit_field="actor_unit",
    )
    return follow_up_threads(user, case, events)


def follow_up_threads(user: Any, case: Case, events: list[CaseEvent]) -> list[FollowUpThread]:
    """The follow-ups among `events` (a case `user` may see, its history already read and
    labelled: `case_follow_ups` passes them), with their readers (one query, none without
    follow-ups) and replies. The case page does the same in its own steps
    (`open_threads`, `thread_readers`, `finish_threads`) to label everyone at once."""
    threads = open_threads(events)
    readers = selectors.label_people(user, thread_readers(case, threads), "recipient")
    return finish_threads(threads, readers)


def open_threads(events: list[CaseEvent]) -> dict[int, FollowUpThread]:
    """The follow-ups among a case's `events` by id, with their replies (no query)."""
    follow_up, reply = CaseEvent.Kind.FOLLOW_UP, CaseEvent.Kind.REPLY
    threads = {event.pk: FollowUpThread(event) for event in events if event.kind == follow_up}
    for event in events:
        answered = (event.changes.get("follow_up") or [None, None])[1]
        if event.kind == reply and answered in threads:
            threads[answered].replies.append(event)
    return threads


def thread_readers(case: Case, threads: dict[int, FollowUpThread]) -> list[Reminder]:
    """The in-app reminders of the follow-ups `threads` (of `case`, one the caller may see),
    unlabelled: one query, none without follow-ups."""
    if not threads:
        return []
    return list(
        Reminder.objects.filter(
            case_id=case.pk,
            kind=Reminder.Kind.FOLLOW_UP,
            channel=Channel.IN_APP,
            window__in=[follow_up_window(pk) for pk in threads],
            recipient__isnull=False,
        )
        .select_related("recipient__unit", "delivery__notification")
        .order_by("recipient_id")
    )


def finish_threads(
    threads: dict[int, FollowUpThread], readers: list[Reminder]
) -> list[FollowUpThread]:
    """`threads` with their `readers` (labelled by the caller) and when each read it."""
    if not threads:
        return []
    windows = {follow_up_window(pk): pk for pk in threads}
    for reminder in readers:
        message = reminder.delivery
        notification = getattr(message, "notification", None) if message is not None else None
        # (Set on the row for the page and the API: when its recipient read the follow-up.)
        reminder.read_at = notification.read_at if notification is not None else None  # type: ignore[attr-defined]
        reminder.state = reader_state(reminder)  # type: ignore[attr-defined]
        threads[windows[reminder.window]].readers.append(reminder)
    return list(threads.values())
