"""Registering a feedback problem with its items (问题清单) in one go: the problem, N items
under it and the verification points of each, all or nothing.

Every case is made by `services.case_create`, in a savepoint of its own, so one pass finds
every row a rule refuses (in the service's words) and the whole registration is undone when
any is: the same rehearsal the ledger import makes (`ledgers.importing.carrying`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from . import selectors, services
from .errors import DomainError, InvalidInput, NotFound
from .models import Case

PROBLEM = "problem"  # the key of the problem's refusal in `RowsRefused.rows`


class RowsRefused(InvalidInput):
    """Rows of a registration the services refused; nothing was stored. `rows`: the problem's
    refusal under PROBLEM, each item's under its index (0, 1, …)."""

    def __init__(self, rows: dict[Any, DomainError]) -> None:
        first = next(iter(rows.values()))
        super().__init__(first.message, fields=first.fields)
        self.rows = rows


def problem_register(
    *,
    actor: Any,
    inspection_id: int,
    problem: dict[str, Any],
    items: Sequence[dict[str, Any]] = (),
    at: datetime | None = None,
) -> Case:
    """Register a problem (`problem`: `case_create`'s arguments but the inspection and parent)
    and its items. An item without a responsible unit or deadline takes the problem's.
    Raises RowsRefused with every refused row, having written nothing."""
    inspection = selectors.visible_inspections(actor).filter(pk=inspection_id).first()
    if inspection is None:
        raise NotFound(_("未找到该检查，或您无权查看。"))
    refused: dict[Any, DomainError] = {}
    with transaction.atomic():
        made = _attempt(refused, PROBLEM, actor=actor, inspection=inspection, at=at, **problem)
        for index, item in enumerate(items):
            values = {
                **item,
                "responsible_unit": item.get("responsible_unit") or problem["responsible_unit"],
                "deadline": item.get("deadline") or (made.deadline if made else None),
            }
            if made is None:
                # Checked as a problem of its own, to report the row's other refusals.
                _attempt(refused, index, actor=actor, inspection=inspection, at=at, **values)
            else:
                _attempt(refused, index, actor=actor, inspection=inspection, parent=made,
                         at=at, **values)  # fmt: skip
        if refused:
            raise RowsRefused(refused)  # out of the transaction: every row undone
    assert made is not None  # noqa: S101 (for mypy: refused above otherwise)
    made.refresh_from_db()
    return made


def _attempt(refused: dict[Any, DomainError], key: Any, **arguments: Any) -> Case | None:
    try:
        with transaction.atomic():
            return services.case_create(**arguments)
    except DomainError as error:
        refused[key] = error
        return None
