"""The progress report (整改进展情况报告) and the public notice (整改情况通报) as .docx: the
drafted text from the commission's template, the figures as attachments (附件), the 版记."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.utils import timezone

from cases.errors import InvalidInput

from . import layout
from .drafting import paragraphs, render, single_line
from .figures import Selected, day_text, drafting_context, issuer_of
from .selectors import Drafting, current_template, shipped_template

logger = logging.getLogger(__name__)

INSPECTION_HEADERS = (
    "序号",
    "检查/台账",
    "总数",
    "已完成",
    "整改完成率",
    "按期完成率",
    "逾期未完成",
)
INSPECTION_WIDTHS = (12, 60, 16, 16, 18, 18, 16)
OVERDUE_HEADERS = ("序号", "问题编号", "问题", "责任单位", "整改时限", "逾期天数")
OVERDUE_WIDTHS = (12, 26, 50, 34, 22, 12)


def document_kind(selected: Selected) -> str:
    return "notice" if selected.notice else "progress"


def _drafted(template: Drafting, context: dict[str, Any]) -> tuple[str, list[Any]]:
    """The title and paragraphs; a saved template that fails on these figures (it passed the
    checks on sample figures) gives way to the shipped one, and the server log says so."""
    try:
        return single_line(render(template.title, context)), paragraphs(
            render(template.body, context)
        )
    except InvalidInput as error:
        if template.version is None:
            raise
        logger.warning(
            "document template %s failed, shipped one used: %s", template.version, error.message
        )
        return _drafted(shipped_template(template.kind), context)


def progress_document(user: Any, selected: Selected) -> tuple[str, bytes]:
    """(title, .docx bytes) of the report, or of the notice if `selected.notice`."""
    template = current_template(document_kind(selected))
    context = drafting_context(user, selected)
    issuer = template.issuer or issuer_of(user)
    context["issuer"] = issuer
    title, body = _drafted(template, context)
    today = day_text(timezone.localdate())
    doc = layout.new_document(title=title, author=issuer)
    layout.paragraph(doc, title, layout.TITLE)
    for number, part in enumerate(body):
        if part.level == 1:
            style = layout.HEADING_1
        elif part.level == 2:
            style = layout.HEADING_2
        elif number == 0 and part.text.endswith(("：", ":")):
            style = layout.ADDRESSEE  # 主送机关: flush left
        else:
            style = layout.BODY
        layout.paragraph(doc, part.text, style)
    attachments = _attachments(context)
    for number, (name, _headers, _rows, _widths) in enumerate(attachments, 1):
        prefix = "附件：" if number == 1 else "　　　"
        layout.paragraph(doc, f"{prefix}{number}．{name}", layout.BODY)
    layout.paragraph(doc, issuer, layout.SIGNATURE)
    layout.paragraph(doc, today, layout.SIGNATURE)
    for number, (name, headers, rows, widths) in enumerate(attachments, 1):
        layout.page_break(doc)
        layout.paragraph(doc, f"附件{number}", layout.ATTACHMENT_LABEL)
        layout.paragraph(doc, name, layout.TITLE)
        layout.table(doc, headers, rows, widths)
    layout.paragraph(doc, "", layout.BODY)
    layout.imprint(
        doc,
        copy_to=template.copy_to or settings.DOCUMENT_COPY_TO,
        issuer=issuer,
        day=today,
        width=layout.text_width(doc),
    )
    return title, layout.to_bytes(doc)


Attachment = tuple[str, tuple[str, ...], list[tuple[Any, ...]], tuple[int, ...]]


def _attachments(context: dict[str, Any]) -> list[Attachment]:
    level = context["level"]
    rows: list[tuple[Any, ...]] = [
        (
            row["number"],
            row["name"],
            row["total"],
            row["done"],
            row["rate"],
            row["on_time_rate"] or "—",
            row["overdue"],
        )
        for row in context["inspections"]
    ]
    total = context["total"]
    rows.append(
        (
            "",
            "合计",
            total["total"],
            total["done"],
            total["rate"],
            total["on_time_rate"] or "—",
            total["overdue"],
        )
    )
    found: list[Attachment] = [
        (f"各检查整改完成情况（按{level}统计）", INSPECTION_HEADERS, rows, INSPECTION_WIDTHS)
    ]
    if context["overdue"]:
        overdue = [
            (number, line["code"], line["title"], line["unit"], line["deadline"], line["days"])
            for number, line in enumerate(context["overdue"], 1)
        ]
        found.append(("逾期未完成的问题", OVERDUE_HEADERS, overdue, OVERDUE_WIDTHS))
    return found
