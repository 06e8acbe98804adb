"""The rules a commission relies on, beyond the workflow's table (cases.workflow): who may make
a move on this case, and what a move needs on the case.

- Separation of duties: the person who submitted a case for closing (the actor of its latest
  `submit` move, while the case waits on it) and anyone of its responsible unit (a user whose
  unit is the responsible unit or a unit under it) never move it into a done state: no
  verifying and closing it (the close move, with its checklist confirmation), and no exempting
  it either, which would be the same shortcut. 403 `separation_of_duties`.
- A supervisor makes an inspector's moves (start, submit, escalate, resume) only on a case of
  their own unit: its responsible unit is the supervisor's unit or under it. 403
  `not_own_unit`. Inspectors only ever see their own unit's cases (cases.selectors).
- Evidence (Inspection.requires_evidence): submitting needs at least one evidence file on the
  case (or uploaded with the move), 400 `evidence_required` on `evidence`; closing needs every
  verification point confirmed with a note, 400 `checkpoint_note_required` on `notes`.

`case_transition` (cases.services) checks them all, so the pages, the API, bulk actions and
the ledger import share them; the pages call `refusal` to offer only the moves a user may make.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache, partial
from typing import Any

from django.utils.translation import gettext as _

from .errors import Forbidden, InvalidInput
from .history import append_event
from .models import Case, CaseEvent, CheckPoint, Evidence
from .selectors import user_role
from .workflow import DONE_STATES, Move, Role, Status, moves_for

NOTE_MAX_CHARS = 2000


class SeparationOfDuties(Forbidden):
    code = "separation_of_duties"


class NotOwnUnit(Forbidden):
    code = "not_own_unit"


# The refusals of these rules: 403 in the pages too (cases.views), as in the API.
REFUSALS = (SeparationOfDuties, NotOwnUnit)


class EvidenceRequired(InvalidInput):
    code = "evidence_required"


class CheckpointNoteRequired(InvalidInput):
    code = "checkpoint_note_required"


def submitter_id(case: Case) -> int | None:
    """Who made the case's latest `submit` move (None: never submitted, or by the system)."""
    return (
        CaseEvent.objects.filter(
            case_id=case.pk, kind=CaseEvent.Kind.TRANSITION, to_status=Status.SUBMITTED
        )
        .order_by("-seq", "-id")
        .values_list("actor_id", flat=True)
        .first()
    )


def of_unit(user: Any, case: Case) -> bool:
    """`user` belongs to the case's responsible unit or a unit under it."""
    unit = getattr(user, "unit", None)
    return unit is not None and unit.path.startswith(case.responsible_unit.path)


def over_unit(user: Any, case: Case) -> bool:
    """The case's responsible unit is `user`'s unit or a unit under it."""
    unit = getattr(user, "unit", None)
    return unit is not None and case.responsible_unit.path.startswith(unit.path)


def _submitted_by(user: Any, case: Case) -> bool:
    """`user` made the submission the case is waiting on (a case not submitted has none)."""
    if case.status != Status.SUBMITTED or getattr(user, "pk", None) is None:
        return False
    return submitter_id(case) == user.pk


def refusal(
    user: Any, case: Case, move: Move, *, submitted: Callable[[], bool] | None = None
) -> Forbidden | None:
    """Why `user` may not make `move` on `case` (the error to raise), or None. The role has
    already been checked against the workflow's table. `submitted`: `_submitted_by` for
    this user and case, from a caller that asks it once for several moves."""
    closing = move.target in DONE_STATES and move.source not in DONE_STATES
    submitted = submitted or partial(_submitted_by, user, case)
    if closing and (of_unit(user, case) or submitted()):
        return SeparationOfDuties(
            _("提交销号申请的人员及责任单位人员不能验收销号本问题。")
            if move.verifies
            else _("提交销号申请的人员及责任单位人员不能将本问题纳入负面清单或不予整改。")
        )
    if (
        Role.INSPECTOR in move.roles
        and user_role(user) != Role.INSPECTOR
        and not over_unit(user, case)
    ):
        return NotOwnUnit(
            _("“%(move)s”须由责任单位（%(unit)s）的人员办理，监督人员不能代为办理。")
            % {"move": move.label, "unit": case.responsible_unit.name}
        )
    return None


def require_allowed(user: Any, case: Case, move: Move) -> None:
    error = refusal(user, case, move)
    if error is not None:
        raise error


def offered_moves(user: Any, case: Case) -> tuple[list[Move], list[str]]:
    """The moves `user` may make on `case` now, and the messages of those their role allows
    but these rules refuse (shown on the page instead of the buttons)."""
    offered: list[Move] = []
    refused: list[str] = []
    submitted = cache(partial(_submitted_by, user, case))  # one query for all the moves
    for move in moves_for(case.status, user_role(user)):
        error = refusal(user, case, move, submitted=submitted)
        if error is None:
            offered.append(move)
        elif error.message not in refused:
            refused.append(error.message)
    return offered, refused


def require_evidence_to_submit(case: Case, move: Move, *, uploading: int) -> None:
    if move.target != Status.SUBMITTED or not case.inspection.requires_evidence or uploading:
        return
    if not Evidence.objects.filter(case_id=case.pk).exists():
        message = _("该检查要求申请销号前上传佐证材料，请至少上传一份佐证材料。")
        raise EvidenceRequired(message, fields={"evidence": [message]})


def confirm_checklist(
    case: Case,
    *,
    actor: Any,
    confirm: set[int],
    notes: Mapping[int, str],
    at: datetime,
) -> None:
    """Confirm the case's verification points on closing: every one not yet confirmed must be
    in `confirm`; with a note each (`notes`, by point id) where the inspection requires
    evidence. Refused (nothing written) otherwise."""
    points = list(case.checklist.all())
    known = {point.pk for point in points}
    unknown = confirm - known
    if unknown:
        message = _("验收要点不属于该问题：%(ids)s") % {"ids": sorted(unknown)}
        raise InvalidInput(message, fields={"confirm": [message]})
    unknown = set(notes) - known
    if unknown:
        message = _("验收要点不属于该问题：%(ids)s") % {"ids": sorted(unknown)}
        raise InvalidInput(message, fields={"notes": [message]})
    too_long = [pk for pk, note in notes.items() if len(note) > NOTE_MAX_CHARS]
    if too_long:
        message = _("验收说明不能超过 %(n)s 字。") % {"n": NOTE_MAX_CHARS}
        raise InvalidInput(message, fields={"notes": [message]})
    missing = [p.text for p in points if not p.confirmed and p.pk not in confirm]
    if missing:
        message = _("销号前须确认全部验收要点，尚未确认：%(points)s") % {
            "points": "；".join(missing)
        }
        raise InvalidInput(message, fields={"confirm": [message]})
    newly = [p for p in points if not p.confirmed]
    for point in newly:
        point.note = (notes.get(point.pk) or "").strip() or point.note
    if case.inspection.requires_evidence:
        bare = [p.text for p in points if not (p.note or "").strip()]
        if bare:
            message = _("该检查要求逐条填写验收说明，尚未填写：%(points)s") % {
                "points": "；".join(bare)
            }
            raise CheckpointNoteRequired(message, fields={"notes": [message]})
    for point in newly:
        point.confirmed, point.confirmed_by, point.confirmed_at = True, actor, at
    CheckPoint.objects.bulk_update(newly, ["confirmed", "confirmed_by", "confirmed_at", "note"])
    if newly:
        changes: dict[str, Any] = {"confirmed": [None, [p.text for p in newly]]}
        noted = {p.text: p.note for p in newly if p.note}
        if noted:
            changes["notes"] = [None, noted]
        append_event(case, actor=actor, kind=CaseEvent.Kind.CHECKLIST, at=at, changes=changes)
