"""The three lists (问题清单、任务清单、责任清单) of a selection, as one workbook of three sheets
in the ledger's layout (ledgers.workbook) and as .docx tables.

- 问题清单: the problems (cases without a parent) as fed back, with their unit and deadline;
- 任务清单: what is to be done, one row per task: each item of a problem, and each problem
  without items, with its measures, method, owner, deadline and progress;
- 责任清单: each responsible unit with its people (owners), how many cases it holds, done
  and overdue (cases.completion, as the dashboard's unit table), and its latest open deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from django.conf import settings
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from cases import selectors
from cases.completion import completion_report
from cases.errors import InvalidInput
from cases.models import Case
from cases.workflow import DONE_STATES
from ledgers.columns import GROUP_PROBLEM, GROUP_RECTIFICATION, GROUP_RESPONSIBILITY, Column
from ledgers.sheetrows import AMOUNT_FORMAT, DATE_FORMAT
from ledgers.workbook import HEADER_ROWS, lay_out_sheet, text_cell

from . import layout
from .figures import Selected, day_text, document_cases, percent, scope_name

C = Column
PROBLEM_COLUMNS = (
    C("seq", gettext_lazy("序号"), None, 6, "int", imported=False),
    C("code", gettext_lazy("问题编号"), GROUP_PROBLEM, 16),
    C("inspection", gettext_lazy("所属检查"), GROUP_PROBLEM, 28),
    C("source", gettext_lazy("问题来源"), GROUP_PROBLEM, 10),
    C("title", gettext_lazy("问题标题"), GROUP_PROBLEM, 32, "long"),
    C("description", gettext_lazy("问题描述"), GROUP_PROBLEM, 40, "long"),
    C("unit", gettext_lazy("责任单位"), GROUP_RESPONSIBILITY, 24),
    C("region", gettext_lazy("所属区县"), GROUP_RESPONSIBILITY, 10),
    C("deadline", gettext_lazy("整改时限"), GROUP_RECTIFICATION, 12, "date"),
    C("status", gettext_lazy("整改状态"), GROUP_RECTIFICATION, 10),
    C("items", gettext_lazy("事项进度"), GROUP_RECTIFICATION, 9),
)
TASK_COLUMNS = (
    C("seq", gettext_lazy("序号"), None, 6, "int", imported=False),
    C("parent", gettext_lazy("所属问题编号"), None, 16),
    C("code", gettext_lazy("任务编号"), None, 18),
    C("task", gettext_lazy("整改任务"), None, 32, "long"),
    C("measures", gettext_lazy("整改措施"), GROUP_RECTIFICATION, 36, "long"),
    C("method", gettext_lazy("整改方式"), GROUP_RECTIFICATION, 14),
    C("unit", gettext_lazy("责任单位"), GROUP_RESPONSIBILITY, 24),
    C("owner", gettext_lazy("责任人"), GROUP_RESPONSIBILITY, 10),
    C("deadline", gettext_lazy("完成时限"), GROUP_RESPONSIBILITY, 12, "date"),
    C("progress", gettext_lazy("完成情况"), GROUP_RECTIFICATION, 36, "long"),
    C("status", gettext_lazy("整改状态"), GROUP_RECTIFICATION, 10),
)
RESPONSIBILITY_COLUMNS = (
    C("seq", gettext_lazy("序号"), None, 6, "int", imported=False),
    C("unit", gettext_lazy("责任单位"), GROUP_RESPONSIBILITY, 30),
    C("region", gettext_lazy("所属区县"), GROUP_RESPONSIBILITY, 10),
    C("owners", gettext_lazy("责任人"), GROUP_RESPONSIBILITY, 24, "long"),
    C("total", gettext_lazy("承担整改数"), GROUP_RECTIFICATION, 10, "int"),
    C("done", gettext_lazy("已完成"), GROUP_RECTIFICATION, 9, "int"),
    C("rate", gettext_lazy("完成率"), GROUP_RECTIFICATION, 9),
    C("overdue", gettext_lazy("逾期未完成"), GROUP_RECTIFICATION, 10, "int"),
    C("latest", gettext_lazy("最迟整改时限"), GROUP_RECTIFICATION, 12, "date"),
)


@dataclass
class List:
    name: str  # 问题清单, 任务清单, 责任清单: the sheet's name and the table's heading
    columns: tuple[Column, ...]
    rows: list[list[Any]]


def _owner(case: Case) -> str:
    return case.owner.get_full_name() if case.owner is not None else ""


def three_lists(user: Any, selected: Selected) -> tuple[str, list[List]]:
    """(scope name, the three lists) of the user's scoped selection; InvalidInput past
    DOCUMENT_MAX_ROWS cases (a table to read, not a full export: the ledger export is that)."""
    cases = document_cases(user, selected)
    limit = settings.DOCUMENT_MAX_ROWS
    if cases.order_by()[: limit + 1].count() > limit:
        raise InvalidInput(
            _("所选范围超过 %(max)s 个问题，请选择检查、区县或单位缩小范围，或导出整改台账。")
            % {"max": limit}
        )
    related = ("inspection", "responsible_unit", "region", "owner", "parent")
    cases = cases.select_related(*related).order_by("code", "id")
    statuses, sources = dict(Case.Status.choices), dict(Case.Source.choices)
    methods = dict(Case.Method.choices)
    problems: list[list[Any]] = []
    tasks: list[list[Any]] = []
    for case in cases:
        if case.parent_id is None:
            problems.append(
                [
                    len(problems) + 1,
                    case.code,
                    case.inspection.name,
                    str(sources.get(case.source, case.source)),
                    case.title,
                    case.description,
                    case.responsible_unit.name,
                    case.region.name if case.region else "",
                    case.deadline,
                    str(statuses[case.status]),
                    f"{case.items_done}/{case.items_total}" if case.items_total else "",
                ]
            )
        if case.items_total == 0:
            tasks.append(
                [
                    len(tasks) + 1,
                    case.parent.code if case.parent else "",
                    case.code,
                    case.title,
                    case.measures,
                    str(methods.get(case.method, "")),
                    case.responsible_unit.name,
                    _owner(case),
                    case.deadline,
                    case.progress,
                    str(statuses[case.status]),
                ]
            )
    lists = [
        List(_("问题清单"), PROBLEM_COLUMNS, problems),
        List(_("任务清单"), TASK_COLUMNS, tasks),
        List(_("责任清单"), RESPONSIBILITY_COLUMNS, _responsibility(user, cases, selected)),
    ]
    return scope_name(user, selected), lists


def _responsibility(user: Any, cases: QuerySet[Case], selected: Selected) -> list[list[Any]]:
    """One row per responsible unit: its figures from cases.completion (the dashboard's unit
    rows, at the selection's level), its people and its latest open deadline."""
    scope = selected.scope
    rows, _total, _counts = completion_report(cases, group_by="unit", level=scope.level)
    keys = [row.key for row in rows if row.key is not None]
    regions = dict(
        selectors.visible_units(user).filter(pk__in=keys).values_list("pk", "region__name")
    )
    owners: dict[int, dict[str, None]] = {}
    for case in cases:  # read once already (the queryset's cache): no query per unit
        if case.owner is not None:
            owners.setdefault(case.responsible_unit_id, {})[_owner(case)] = None
    latest = dict(
        cases.exclude(status__in=DONE_STATES)
        .order_by()
        .values("responsible_unit_id")
        .annotate(latest=Max("deadline"))
        .values_list("responsible_unit_id", "latest")
    )
    return [
        [
            number,
            row.name,
            regions.get(row.key or 0) or "",
            "、".join(owners.get(row.key or 0, {})),
            row.total,
            row.done,
            percent(row.rate),
            row.overdue,
            latest.get(row.key or 0),
        ]
        for number, row in enumerate(rows, 1)
    ]


# --- The workbook ---------------------------------------------------------------------------


def _cell(ws: Any, value: Any, kind: str) -> Any:
    if value is None or value == "":
        return None
    if kind == "date" and isinstance(value, date):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = DATE_FORMAT
        return cell
    if kind == "amount":
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = AMOUNT_FORMAT
        return cell
    if kind == "int" and isinstance(value, int):
        return value
    return text_cell(ws, str(value), wrap=kind == "long")


def lists_workbook(out: IO[bytes], *, scope: str, lists: list[List], by: str) -> None:
    """One sheet per list, each in the ledger's layout (title, subtitle, grouped headers,
    A3 landscape print setup); text that looks like a formula stays text."""
    workbook = Workbook(write_only=True)
    today = timezone.localdate()
    for found in lists:
        ws = workbook.create_sheet(found.name)
        title = _("%(scope)s%(name)s（截至%(day)s）") % {
            "scope": scope,
            "name": found.name,
            "day": f"{today:%Y-%m-%d}",
        }
        subtitle = _("导出：%(by)s　共 %(total)s 行") % {"by": by, "total": len(found.rows)}
        last = lay_out_sheet(ws, found.columns, title=title, subtitle=subtitle)
        ws.auto_filter.ref = f"A{HEADER_ROWS}:{last}{HEADER_ROWS + max(len(found.rows), 1)}"
        kinds = [column.kind for column in found.columns]
        for values in found.rows:
            ws.append([_cell(ws, value, kind) for value, kind in zip(values, kinds, strict=True)])
    workbook.save(out)


# --- The .docx tables -------------------------------------------------------------------------

NUMBERS = "一二三"


def lists_document(*, scope: str, lists: list[List], author: str) -> bytes:
    """The three lists as tables on landscape A4, in the document layout (documents.layout)."""
    title = _("%(scope)s问题清单、任务清单、责任清单") % {"scope": scope}
    doc = layout.new_document(title=title, author=author, landscape=True)
    layout.paragraph(doc, title, layout.TITLE)
    width_mm = layout.text_width(doc) / 36000  # EMU per millimetre
    for number, found in enumerate(lists):
        heading = f"{NUMBERS[number]}、{found.name}（{len(found.rows)}）"
        layout.paragraph(doc, heading, layout.HEADING_1)
        total = sum(column.width for column in found.columns)
        widths = [column.width * width_mm / total for column in found.columns]
        rows = [[_text(value) for value in values] for values in found.rows]
        headers = [str(column.label) for column in found.columns]
        layout.table(doc, headers, rows, widths)
    layout.paragraph(doc, day_text(timezone.localdate()), layout.SIGNATURE)
    return layout.to_bytes(doc)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    return str(value)
