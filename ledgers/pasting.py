"""Rows pasted from Excel into an inspection's page: read as a ledger, checked and carried
out by the import itself (`ledgers.importing`), never by rules of their own.

Excel copies cells as tab-separated lines; the first line is the header, in the ledger's
column names (as the import reads a file: `workbook.read_ledger`). Rows without 所属检查 are
the inspection's; a row naming another inspection is refused (the page registers into one).
The preview rehearses every row through the services and rolls back (`plan_import`); the
import re-reads the rows and applies them in one transaction, every row or none
(`apply_plan`), and is recorded in the audit log as a file import is.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from audit.models import AuditEntry
from audit.services import audit_record
from cases import selectors as case_selectors
from cases.errors import InvalidInput, NotFound
from cases.models import Inspection

from .columns import BY_KEY
from .importing import Plan, RowFailed, apply_plan, plan_import
from .services import _require_import
from .workbook import ReadLedger, read_ledger

# About the size of a 2,000-row ledger; anything larger goes through the file import.
MAX_PASTE_CHARS = 1_000_000


class PasteRefused(InvalidInput):
    """Rows a paste could not import; nothing was stored. `problems`: the import's
    [{"row", "code", "column", "message"}]."""

    def __init__(self, message: str, problems: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.problems = problems


def paste_inspection(actor: Any, inspection_id: Any) -> Inspection:
    inspection = case_selectors.visible_inspections(actor).filter(pk=inspection_id).first()
    if inspection is None:
        raise NotFound(_("未找到该检查，或您无权查看。"))
    return inspection


def paste_read(text: str, inspection: Inspection) -> tuple[ReadLedger, list[dict[str, Any]]]:
    """The pasted rows as the import reads a file, each given the inspection; and the rows
    that name another one (as problems)."""
    if len(text) > MAX_PASTE_CHARS:
        raise InvalidInput(_("粘贴的内容过多，请分批粘贴或改用导入台账文件。"))
    if not text.strip():
        message = _("请粘贴从 Excel 复制的表格（含表头行）。")
        raise InvalidInput(message, fields={"text": [message]})
    data = text.replace("\r\n", "\n").encode("utf-8")
    ledger = read_ledger(io.BytesIO(data), "paste.csv", max_rows=settings.LEDGER_IMPORT_MAX_ROWS)
    if "inspection" not in ledger.columns:
        ledger.columns.append("inspection")
    problems = []
    for row in ledger.rows:
        named = (row["values"].get("inspection") or "").strip()
        if not named:
            row["values"]["inspection"] = inspection.code
        elif named not in (inspection.code, inspection.name):
            problems.append({
                "row": row["row"],
                "code": (row["values"].get("code") or "").strip(),
                "column": str(BY_KEY["inspection"].label),
                "message": _("本页只登记“%(name)s”的问题，请删去该列或填写本检查。")
                % {"name": inspection.name},
            })  # fmt: skip
    return ledger, problems


def paste_preview(*, actor: Any, inspection_id: Any, text: str) -> tuple[ReadLedger, Plan]:
    """What the paste would do, every row checked as the import checks it (rehearsed through
    the services and rolled back). Writes nothing."""
    _require_import(actor)
    inspection = paste_inspection(actor, inspection_id)
    ledger, foreign = paste_read(text, inspection)
    kept = [row for row in ledger.rows if row["row"] not in {p["row"] for p in foreign}]
    plan = plan_import(actor, ledger.columns, kept)
    plan.problems = sorted([*plan.problems, *foreign], key=lambda problem: problem["row"])
    return ledger, plan


def paste_import(*, actor: Any, inspection_id: Any, text: str, request: Any = None) -> Plan:
    """Import the pasted rows: read again and applied in one transaction, every row or none.
    PasteRefused (nothing stored) with the rows' problems when any row is refused."""
    _require_import(actor)
    inspection = paste_inspection(actor, inspection_id)
    ledger, problems = paste_read(text, inspection)
    plan = plan_import(actor, ledger.columns, ledger.rows, check=False)
    problems = sorted([*plan.problems, *problems], key=lambda problem: problem["row"])
    if problems:
        raise PasteRefused(_("有 %(n)s 处问题，未导入任何内容。") % {"n": len(problems)}, problems)
    changed = plan.changed
    try:
        with transaction.atomic():
            apply_plan(plan, actor=actor)
            audit_record(
                actor=actor,
                action=AuditEntry.Action.IMPORT_LEDGER,
                target=inspection,
                changes={"pasted": len(ledger.rows),
                         "created": sum(1 for row in changed if row.action == "create"),
                         "updated": sum(1 for row in changed if row.action == "update")},
                request=request,
            )  # fmt: skip
    except RowFailed as failure:
        message = _("第 %(row)s 行未能导入，未导入任何内容。") % {"row": failure.row}
        raise PasteRefused(message, failure.problems) from None
    return plan
