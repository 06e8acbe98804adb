"""Carrying a plan out through the services, each row in a savepoint.

Every change is a call to `cases.services`, which lock, check and write history: an import is
recorded exactly as the same edits made on the case page, and a row that breaks a rule is
refused by the service that owns the rule, in its words (`DomainError.message`, word for
word). A refused row's savepoint is rolled back, so nothing of it stays, and the next rows go
on: one pass finds every refused row. `rehearse` makes that pass for the preview and rolls it
all back; `apply_plan` makes it for the import and fails it whole if any row was refused (an
import is every row or none).

Order: problems first (a problem reopens before its items do), then items, then the moves of
problems that end done (once their items are).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from cases import services as case_services
from cases.errors import DomainError
from cases.models import Case

from ..columns import BY_KEY
from .plan import IMPORT_NOTE, Plan, RowFailed, RowPlan

# A service's field names (DomainError.fields) as the ledger's columns.
FIELD_COLUMNS = {
    "code": "code",
    "title": "title",
    "description": "description",
    "source": "source",
    "method": "method",
    "is_key_problem": "key_problem",
    "amount": "amount",
    "parent": "parent",
    "inspection": "inspection",
    "responsible_unit": "unit",
    "owner": "owner",
    "measures": "measures",
    "progress": "progress",
    "deadline": "deadline",
    "reason": "deadline",
    "to": "status",
    "note": "status",
    "confirm": "status",
}


class _Refused(Exception):
    """A service refused one call of a row: the column it is about and the service's words."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


def rehearse(plan: Plan, *, actor: Any, on_row: Callable[[int], None] | None = None) -> None:
    """The preview's check: every changed row through the services, in a transaction rolled
    back at the end. The rows refused become the plan's problems and leave its rows."""
    with transaction.atomic():
        problems = _Runner(actor).run(plan, on_row)
        transaction.set_rollback(True)
    refused = {problem["row"] for problem in problems}
    plan.rows = [row for row in plan.rows if row.row not in refused]
    plan.problems.extend(problems)


def apply_plan(plan: Plan, *, actor: Any, on_row: Callable[[int], None] | None = None) -> None:
    """Import the plan: every row or none. Raises RowFailed, with every refused row, and
    writes nothing, when a service refuses any."""
    with transaction.atomic():
        problems = _Runner(actor).run(plan, on_row)
        if problems:
            raise RowFailed(problems)


class _Runner:
    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self.made: dict[str, Case] = {}  # the cases this file registered, by code
        self.problems: list[dict[str, Any]] = []

    def run(self, plan: Plan, on_row: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        changed = plan.changed
        ordered = [r for r in changed if not r.is_item] + [r for r in changed if r.is_item]
        closing: list[tuple[RowPlan, int]] = []
        for done, row in enumerate(ordered, 1):
            case_id = self._attempt(row, self._write, row)
            if case_id is not None and row.closes_after_items:
                closing.append((row, case_id))
            if on_row is not None:
                on_row(done)
        for row, case_id in closing:
            self._attempt(row, self._walk, row, case_id)
        return self.problems

    def _attempt(self, row: RowPlan, step: Callable[..., int], *args: Any) -> int | None:
        """One step of a row in a savepoint: its result, or None and the row's problem."""
        try:
            with transaction.atomic():
                return step(*args)
        except _Refused as refused:
            self.problems.append(
                {"row": row.row, "code": row.code, "column": refused.column,
                 "message": refused.message}
            )  # fmt: skip
            return None

    def _call(self, column: str, service: Callable[..., Any], **arguments: Any) -> Any:
        try:
            return service(actor=self.actor, **arguments)
        except DomainError as error:
            raise _Refused(_column(error, column), error.message) from None

    def _write(self, row: RowPlan) -> int:
        """A row's calls, but the move of a problem that ends done (`closes_after_items`)."""
        case_id = self._create(row) if row.create is not None else _existing(row).pk
        if row.reopens:
            self._walk(row, case_id)
        if row.details:
            self._call("", case_services.case_update_details, case_id=case_id, **row.details)
        if row.rectification:
            column = "measures" if "measures" in row.rectification else "progress"
            self._call(
                column,
                case_services.case_update_rectification,
                case_id=case_id,
                measures=row.rectification.get("measures"),
                progress=row.rectification.get("progress"),
            )
        if row.deadline is not None:
            self._call(
                "deadline",
                case_services.case_extend_deadline,
                case_id=case_id,
                deadline=row.deadline,
                reason=IMPORT_NOTE,
            )
        if row.assign:
            column = "unit" if "responsible_unit" in row.assign else "owner"
            self._call(
                column, case_services.case_assign, case_id=case_id, note=IMPORT_NOTE, **row.assign
            )
        if not row.reopens and not row.closes_after_items:
            self._walk(row, case_id)
        return case_id

    def _create(self, row: RowPlan) -> int:
        arguments = dict(row.create or {})
        if row.is_item and arguments["parent"] is None:  # registered by an earlier row
            if row.parent_code not in self.made:
                message = _("所属问题“%(code)s”未能导入。") % {"code": row.parent_code}
                raise _Refused(_label("parent"), message)
            arguments["parent"] = self.made[row.parent_code]
        # An item's refusals without a field (its problem is done…) are about 所属问题编号.
        case = self._call("parent" if row.is_item else "", case_services.case_create, **arguments)
        self.made[row.code] = case
        return int(case.pk)

    def _walk(self, row: RowPlan, case_id: int) -> int:
        for status in row.path:
            self._call(
                "status", case_services.case_transition, case_id=case_id, to=status,
                note=IMPORT_NOTE,
            )  # fmt: skip
        return case_id


def _existing(row: RowPlan) -> Case:
    assert row.case is not None  # noqa: S101 (for mypy: a row either creates or updates)
    return row.case


def _column(error: DomainError, default: str) -> str:
    """The column a refusal is about: the first field it names that the ledger has, else the
    column of the call refused."""
    keys = [FIELD_COLUMNS[name] for name in error.fields if name in FIELD_COLUMNS]
    return _label(keys[0] if keys else default)


def _label(key: str) -> str:
    return str(BY_KEY[key].label) if key else ""
