"""Reading the documents back as a clerk's Word would: python-docx and openpyxl."""

from __future__ import annotations

import io
from typing import Any

from docx import Document
from docx.oxml.ns import qn
from openpyxl import load_workbook


def body_of(response: Any) -> bytes:
    assert response.status_code == 200, (response.status_code, getattr(response, "content", b""))
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def open_docx(response: Any) -> Any:
    return Document(io.BytesIO(body_of(response)))


def open_workbook(response: Any) -> Any:
    return load_workbook(io.BytesIO(body_of(response)))


def paragraphs(doc: Any) -> list[str]:
    return [p.text for p in doc.paragraphs]


def table_rows(doc: Any) -> list[list[list[str]]]:
    return [[[cell.text for cell in row.cells] for row in table.rows] for table in doc.tables]


def all_text(doc: Any) -> str:
    """Every paragraph and table cell, one per line."""
    cells = [cell for table in table_rows(doc) for row in table for cell in row]
    return "\n".join(paragraphs(doc) + cells)


def east_asian_font(style: Any) -> str | None:
    fonts = style.element.rPr.rFonts
    return fonts.get(qn("w:eastAsia"))


def sheet_rows(ws: Any, first: int = 5) -> list[list[Any]]:
    return [list(row) for row in ws.iter_rows(min_row=first, values_only=True)]
