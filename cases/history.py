"""Appending to a case's history: the one place a history row is written.

Called by the write services (`cases.services`) with the case row locked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from . import history_chain
from .errors import InvalidInput
from .models import Case, CaseEvent


def append_event(
    case: Case,
    *,
    actor: Any,
    kind: str,
    at: datetime,
    note: str = "",
    changes: dict[str, list[Any]] | None = None,
    evidence: Sequence[str] = (),
    **values: Any,
) -> CaseEvent:
    """Append a history row: who (the actor and the unit they act for), when, what. Called
    with the case row locked; the row is sealed into the case's chain (`cases.history_chain`)
    together with `evidence`, the SHA-256 of the files that will point at it, and the case's
    chain head moves to it."""
    require_after_history(case, at)
    event = CaseEvent(
        case=case,
        kind=kind,
        note=note,
        changes=changes or {},
        actor=actor if getattr(actor, "pk", None) else None,
        actor_unit_id=getattr(actor, "unit_id", None),
        created_at=at,
        **values,
    )
    prev_hash, seq = case.history_head, case.history_length + 1
    history_chain.seal(event, prev_hash=prev_hash, seq=seq, evidence=evidence)
    event.save(force_insert=True)
    # Guarded by the head read under the lock: a stale case object fails loudly rather than
    # forking the chain.
    moved = Case.objects.filter(pk=case.pk, history_head=prev_hash).update(
        history_head=event.hash, history_length=seq
    )
    if moved != 1:
        raise RuntimeError(f"case {case.pk}: history head moved under a locked write")
    case.history_head, case.history_length = event.hash, seq
    return event


def require_after_history(case: Case, at: datetime) -> None:
    """A history is dated in the order it is written: `verify_history` takes a row dated
    before its predecessor for a forgery, so none is written. (A loader's `at` may still lie
    ahead, as the figure tests' do; `verify_history` reports a row dated in its future.)"""
    if not case.history_length:
        return
    last = (
        CaseEvent.objects.filter(case_id=case.pk, seq=case.history_length)
        .values_list("created_at", flat=True)
        .first()
    )
    if last is not None and at < last:
        raise InvalidInput(_("记录时间早于该问题的最近一条记录，不能补录在其之前。"))
