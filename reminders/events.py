"""Reminders of things that happen to a case: a supervisor's follow-up (督办), a workflow move
(申请销号 → the supervisors; 退回、销号、负面清单、重新整改、提请上级协调、调整责任 → the
unit), and the unit's reply to a follow-up (→ its author).

Each is written in the transaction of the write it tells of (the case services call
`remind_follow_up` / `remind_event` right after appending the history row), as reminders keyed
(case, kind, "event-<history id>", addressee, channel): the ledger's unique key makes them
exactly once, a refused or rolled-back write leaves none, and the digests and the delivery of
`reminders.services` send them like any other, one publication per transaction.

Who is told, always among the people who may see the case (`_who_may_see`) and never the
person who acted:
- submitted: the supervisors of the case's supervising unit, and that unit's group bot;
- escalated: the unit's people (as reminders choose them) and the supervising unit's
  supervisors, and both units' bots (a higher level is asked to act);
- replied: the follow-up's author (if they left, the supervising unit's supervisors);
- the rest: the unit's people (the owner, else the nearest inspectors: `Addressees`) and the
  responsible unit's bot; after a reassignment, of the unit the case now belongs to.

A write dated on an earlier day (an import of a past ledger, the demo) is history, not news:
it tells nobody.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from cases.models import Case, CaseEvent, User
from cases.workflow import MOVES, Status

from . import selectors
from .models import Reminder
from .rules import MOVE_KINDS, follow_up_window
from .services import Addressees, _insert, _reminder_rows, _who_may_see, deliver_after_commit

Kind = Reminder.Kind


def _in_the_past(at: datetime) -> bool:
    return timezone.localtime(at).date() < timezone.localdate()


def remind_follow_up(*, event: CaseEvent, at: datetime) -> int:
    """The reminders of a supervisor's follow-up (督办), written in the follow-up's own
    transaction (cases.services.case_follow_up calls this) and delivered after it commits."""
    if _in_the_past(at):
        return 0
    case = selectors.case_for_reminders(event.case_id)
    addressees = Addressees()
    people = _who_may_see({case.pk: addressees.people(case, Kind.FOLLOW_UP)})[case.pk]
    units = addressees.webhook_units(case, Kind.FOLLOW_UP)
    return _write(case, Kind.FOLLOW_UP, event, people, units, at)


def event_kind(event: CaseEvent) -> str | None:
    """The notification a history row calls for, if any."""
    if event.kind == CaseEvent.Kind.TRANSITION and event.from_status and event.to_status:
        move = MOVES.get((Status(event.from_status), Status(event.to_status)))
        return MOVE_KINDS.get(move.name) if move is not None else None
    if event.kind == CaseEvent.Kind.ASSIGNMENT:
        return Kind.REASSIGNED
    if event.kind == CaseEvent.Kind.REPLY:
        return Kind.REPLIED
    return None


def remind_event(*, event: CaseEvent, at: datetime, case: Case | None = None) -> int:
    """The notifications of a workflow move, a reassignment or a reply, written in its own
    transaction (the case services call this after appending `event`) and delivered after it
    commits. Returns the number of reminders written. `case`: the event's case as the write
    left it, if the caller holds it with its owner's unit, responsible unit and inspection
    (`cases.selectors.case_get_for_update` reads them); else it is read here."""
    kind = event_kind(event)
    if kind is None or _in_the_past(at):
        return 0
    if case is None or case.pk != event.case_id:
        case = selectors.case_for_reminders(event.case_id)
    people, units = _addressees(kind, case, event, Addressees())
    people = [person for person in people if person.pk != event.actor_id]
    people = _who_may_see({case.pk: people})[case.pk]
    return _write(case, kind, event, people, units, at)


def _addressees(
    kind: str, case: Case, event: CaseEvent, addressees: Addressees
) -> tuple[list[User], list[int]]:
    # Both bots that may receive anything of this case (enabled, not a restricted ledger).
    bots = addressees.webhook_units(case, Kind.ESCALATION)
    if kind == Kind.SUBMITTED:
        return addressees.supervisors(case), [pk for pk in bots if pk == case.supervising_unit_id]
    if kind == Kind.ESCALATED:
        return addressees.people(case, Kind.ESCALATION), bots
    if kind == Kind.REPLIED:
        return _follow_up_author(event) or addressees.supervisors(case), []
    return addressees.people(case, kind), addressees.webhook_units(case, kind)


def _follow_up_author(reply: CaseEvent) -> list[User]:
    follow_up_id = (reply.changes.get("follow_up") or [None, None])[1]
    author = (
        User.objects.filter(
            is_active=True,
            pk__in=CaseEvent.objects.filter(pk=follow_up_id, case_id=reply.case_id).values(
                "actor_id"
            ),
        )
        .select_related("unit")
        .first()
    )
    return [author] if author is not None else []


def _write(
    case: Case, kind: str, event: CaseEvent, people: list[User], units: list[int], at: datetime
) -> int:
    rows = _reminder_rows(
        case, kind=kind, window=follow_up_window(event.pk), people=people, units=units, at=at,
        event=event,
    )  # fmt: skip
    _insert(rows)
    if rows:
        deliver_after_commit()
    return len(rows)
