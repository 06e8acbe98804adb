"""Appending to a case's history: the one place a history row is written.

Called by the write services (`cases.services`) with the case row locked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import F, OuterRef, QuerySet, Subquery
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
    case_fields: Sequence[str] = (),
    **values: Any,
) -> CaseEvent:
    """Append a history row: who (the actor and the unit they act for), when, what. Called
    with the case row locked; the row is sealed into the case's chain (`cases.history_chain`)
    together with `evidence`, the SHA-256 of the files that will point at it, and the case's
    chain head moves to it. `case_fields`: fields of `case` changed in memory by the write the
    row tells of, saved by the same UPDATE that moves the head (one statement, not two)."""
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
    saved = {name: getattr(case, name) for name in case_fields}
    moved = Case.objects.filter(pk=case.pk, history_head=prev_hash).update(
        history_head=event.hash, history_length=seq, **saved
    )
    if moved != 1:
        raise RuntimeError(f"case {case.pk}: history head moved under a locked write")
    case.history_head, case.history_length = event.hash, seq
    case.last_event_at, case.last_event_seq = at, seq  # type: ignore[attr-defined]
    return event


def with_last_event_at(cases: QuerySet[Case]) -> QuerySet[Case]:
    """`cases` with when each one's history was last written (`last_event_at`, and the length
    it was read at), for `require_after_history` to check without a query of its own."""
    last = CaseEvent.objects.filter(case_id=OuterRef("pk"), seq=OuterRef("history_length"))
    return cases.annotate(
        last_event_at=Subquery(last.values("created_at")[:1]),
        last_event_seq=F("history_length"),
    )


def require_after_history(case: Case, at: datetime) -> None:
    """A history is dated in the order it is written: `verify_history` takes a row dated
    before its predecessor for a forgery, so none is written. (A loader's `at` may still lie
    ahead, as the figure tests' do; `verify_history` reports a row dated in its future.)"""
    if not case.history_length:
        return
    if getattr(case, "last_event_seq", None) == case.history_length:
        last = case.last_event_at  # type: ignore[attr-defined]  # read with the case
    else:
        last = (
            CaseEvent.objects.filter(case_id=case.pk, seq=case.history_length)
            .values_list("created_at", flat=True)
            .first()
        )
    if last is not None and at < last:
        raise InvalidInput(_("记录时间早于该问题的最近一条记录，不能补录在其之前。"))
