"""What an import would do: per row, the service calls that make the tracker match the file
(`RowPlan`), and the problems found on the way (`Plan.problems`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cases.models import Case
from cases.workflow import DONE_STATES, Status

# The note on every history row an import writes. History is shared data, kept in the
# language of the ledgers rather than in the importer's page language.
IMPORT_NOTE = "台账导入"


@dataclass
class RowPlan:
    row: int
    code: str
    case: Case | None = None  # the existing case; None for a new one
    create: dict[str, Any] | None = None  # case_create's arguments
    parent_code: str = ""  # the problem of an item (existing, or registered by this file)
    details: dict[str, Any] = field(default_factory=dict)
    rectification: dict[str, str] = field(default_factory=dict)
    deadline: date | None = None
    assign: dict[str, Any] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # statuses to move through, in order
    fields: list[str] = field(default_factory=list)  # what changes, for the preview
    is_item: bool = False
    current: str = Status.OPEN
    target: str = Status.OPEN

    @property
    def reopens(self) -> bool:
        """Moves from done to not done: before any other change (a done case takes none)."""
        return self.current in DONE_STATES and self.target not in DONE_STATES

    @property
    def closes_after_items(self) -> bool:
        """A problem that ends done moves once the file's items are written (they may be the
        ones it waits for)."""
        return bool(self.path) and not self.is_item and self.target in DONE_STATES

    @property
    def action(self) -> str:
        if self.create is not None:
            return "create"
        changed = self.details or self.rectification or self.deadline or self.assign
        return "update" if changed or self.path else ""


@dataclass
class Plan:
    rows: list[RowPlan] = field(default_factory=list)
    # [{"row": 5, "code": "...", "column": "整改时限", "message": "..."}]
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> list[RowPlan]:
        return [row for row in self.rows if row.action]

    def changes(self) -> list[dict[str, Any]]:
        return [
            {"row": r.row, "code": r.code, "action": r.action, "fields": r.fields}
            for r in self.changed
        ]


class RowFailed(Exception):
    """Services refused rows while the plan was being carried out (the import is undone):
    `problems` lists every refused row, `row`, `code` and `message` are the first's."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        first = problems[0]
        super().__init__(first["message"])
        self.problems = problems
        self.row, self.code, self.message = first["row"], first["code"], first["message"]
