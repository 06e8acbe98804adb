"""Importing a ledger: checking it, previewing what it changes, carrying it out.

`plan_import` reads the rows (`reading.py`: which case each row is, what its cells mean and
refer to, which service calls it asks for) and, for the preview, rehearses those calls
(`carrying.py`) in a transaction it rolls back, so the preview lists every row a service
refuses, in the service's words. `apply_plan` makes the calls for real: every change goes
through `cases.services`, so an import is recorded exactly as the same edits made on the case
page, and the importer keeps no rule of its own about moves, closing, items, scope or done
cases. A row that says what the tracker already holds plans no call at all: re-importing a
file, or importing an export, writes nothing.

Matching rules:
- a row is the case with the same 问题编号 among the cases the user may see; a new code
  registers a case (`case_create` refuses a code already used, also by a case the user may
  not see);
- 责任单位 by exact name ("上级单位/单位" when names repeat), the user's own units first;
  所属检查 by name or code among visible inspections; 责任人 by name or user name among the
  visible people, the unit's own first; 整改状态, 整改方式 and 问题来源 by their labels (or codes);
- where a name fits several, the case's current unit/owner wins (an export reads back as is);
- a missing column leaves that field alone; an empty cell clears an optional field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .carrying import apply_plan, rehearse
from .cells import NO, YES, parse_date, status_path
from .plan import IMPORT_NOTE, Plan, RowFailed, RowPlan
from .reading import read_plan

__all__ = [
    "IMPORT_NOTE",
    "NO",
    "YES",
    "Plan",
    "RowFailed",
    "RowPlan",
    "apply_plan",
    "parse_date",
    "plan_import",
    "status_path",
]


def plan_import(
    user: Any,
    columns: list[str],
    rows: list[dict[str, Any]],
    *,
    check: bool = True,
    on_row: Callable[[int], None] | None = None,
) -> Plan:
    """Check every row of a read ledger against the tracker, as `user` would import it. With
    `check`, the changed rows are also rehearsed through the services (and rolled back):
    their refusals are among the problems. Nothing is written either way."""
    plan = read_plan(user, columns, rows)
    if check and plan.changed:
        rehearse(plan, actor=user, on_row=on_row)  # `on_row`: progress (and a job's lease)
    plan.problems.sort(key=lambda problem: problem["row"])
    return plan
