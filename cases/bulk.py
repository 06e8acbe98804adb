"""Bulk verification (批量验收销号): each selected case closed on its own, through
`services.case_transition`, so the commission's rules (cases.rules: separation of duties, the
evidence rule, the checklist) refuse exactly the cases they refuse one by one. Unlike the
other bulk actions (all or none), the allowed cases close and the refused are reported."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from . import selectors, services
from .errors import DomainError
from .workflow import Status


@dataclass
class BulkOutcome:
    done: list[int] = field(default_factory=list)
    # (case id, case code, error code, message), in the order selected.
    refused: list[tuple[int, str, str, str]] = field(default_factory=list)


def case_close_each(*, actor: Any, case_ids: Iterable[int], note: str = "") -> BulkOutcome:
    """Close every case of `case_ids` the actor may close now, each in its own transaction
    (a refused one writes nothing and does not undo the others). A verification point is
    never confirmed here: a case with points still to confirm is refused and is verified on
    its own page."""
    outcome = BulkOutcome()
    for case_id in case_ids:
        try:
            with transaction.atomic():
                services.case_transition(
                    actor=actor, case_id=case_id, to=Status.COMPLETED, note=note
                )
        except DomainError as error:
            code = (
                selectors.visible_cases(actor, one=True)
                .filter(pk=case_id)
                .values_list("code", flat=True)
                .first()
            )
            outcome.refused.append((case_id, code or str(case_id), error.code, error.message))
        else:
            outcome.done.append(case_id)
    return outcome
