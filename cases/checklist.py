"""Writes to a case's verification points (验收要点): adding and rewording them until the case
closes. Supervisors only; each write locks the case (`services._lock`, the order every case
write follows) and is one entry of its history (`history.append_event`).

Confirming points is part of closing a case and lives with the move (`services.case_transition`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from .errors import Conflict, InvalidInput, NotFound
from .history import append_event
from .models import Case, CaseEvent, CheckPoint
from .permissions import Action
from .services import MAX_CHECKPOINT, _lock
from .workflow import DONE_STATES


def _clean_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        message = _("请填写验收要点。")
        raise InvalidInput(message, fields={"text": [message]})
    if len(text) > MAX_CHECKPOINT:
        message = _("验收要点不超过 %(max)s 个字。") % {"max": MAX_CHECKPOINT}
        raise InvalidInput(message, fields={"text": [message]})
    return text


def _require_open(case: Case, message: str) -> None:
    # A closed case was verified against its points as they were: they stay as verified.
    if case.status in DONE_STATES:
        raise Conflict(message)


@transaction.atomic
def checkpoint_add(
    *, actor: Any, case_id: int, text: str, at: datetime | None = None
) -> CheckPoint:
    """Add a verification point (验收要点). Supervisors only, until the case closes."""
    case, at = _lock(actor, case_id, at, Action.CHECKLIST)
    text = _clean_text(text)
    _require_open(case, _("已办结的问题不能添加验收要点。"))
    position = case.checklist.count()
    point = CheckPoint.objects.create(case=case, text=text, position=position)
    _record(case, actor=actor, at=at, changes={"added": [None, point.text]})
    return point


@transaction.atomic
def checkpoint_edit(
    *, actor: Any, case_id: int, point_id: int, text: str, at: datetime | None = None
) -> CheckPoint:
    """Reword a verification point. Supervisors only, until the case closes; the old and the
    new wording go into the case's history. The same wording again changes nothing."""
    case, at = _lock(actor, case_id, at, Action.CHECKLIST)
    try:
        point = case.checklist.get(pk=point_id)
    except (CheckPoint.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("未找到该验收要点。")) from None
    text = _clean_text(text)
    _require_open(case, _("已办结的问题不能修改验收要点。"))
    if text == point.text:
        return point
    old = point.text
    point.text = text
    point.save(update_fields=["text"])
    _record(case, actor=actor, at=at, changes={"edited": [old, text]})
    return point


def _record(case: Any, *, actor: Any, at: datetime, changes: dict[str, Any]) -> None:
    """The case changed now; its history says how the checklist did."""
    case.updated_at = at
    case.save(update_fields=["updated_at"])
    append_event(case, actor=actor, kind=CaseEvent.Kind.CHECKLIST, at=at, changes=changes)
