"""The ledger's data rows written as sheet XML directly into the .xlsx.

openpyxl builds every cell as an object and serialises it element by element through lxml:
about 50 µs a cell, so four fifths of a 100,000-row export (2 million cells). Here openpyxl
still lays out everything else (title, headers, merged cells, widths, page setup, styles) and
saves that small workbook; the rows are then streamed into its sheet between the header rows
and the sheet's tail, as the same XML openpyxl would write: inline strings (openpyxl writes no
shared strings either), numbers and dates as `t="n"` values, and the cell styles registered in
the workbook beforehand, so the file reads back cell for cell as before. The XML is UTF-8
(openpyxl writes character references; the parser reads both the same).
"""

from __future__ import annotations

import io
import queue
import re
import threading
import zipfile
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.compat import safe_string
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel

# Text starting with these is what Excel (and LibreOffice, WPS) would take for a formula, a
# DDE call or, after a tab or carriage return, for the start of one. The full-width forms are
# what a Chinese input method types.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
DATE_FORMAT = "yyyy-mm-dd"
AMOUNT_FORMAT = "#,##0.00"
WRAPPED = Alignment(wrap_text=True, vertical="top")
MAX_CELL_CHARS = 32767

# Characters a text cell cannot hold as they are: control characters the file format forbids
# (ILLEGAL_CHARACTERS_RE, dropped by clean_text), the three XML escapes, a carriage return (a
# parser would turn CR LF into LF: written as a reference, as lxml does) and the two
# non-characters XML forbids (dropped; lxml refused them and failed the whole export).
_SPECIAL = re.compile(r"[\000-\010\013\014\016-\037&<>\r\ufffe\uffff]")
_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;", "\ufffe": None, "\uffff": None}
)
NOT_TEXT = ("date", "amount")
# Short texts whose cell is kept once written (bounded: a ledger's titles are all different).
CACHED_CHARS = 64
CACHED_TEXTS = 20000
# Rows joined before each write to the compressor.
ROWS_PER_WRITE = 500


def clean_text(value: str) -> str:
    """Text as a worksheet can hold it: control characters other than tab and line breaks are
    not allowed in the file format, and a cell holds at most 32767 characters."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)[:MAX_CELL_CHARS]


def is_formula_like(value: str) -> bool:
    """Text a spreadsheet would evaluate, or show as an error code, if stored as it is."""
    return value.startswith(FORMULA_TRIGGERS) or value in ERROR_CODES


class RowWriter:
    """Ledger rows (values in the columns' order) as `<row>` elements. `kinds` are the
    columns' kinds (text, long, date, amount, int, as in ledgers.columns); `ws` is the
    write-only sheet whose workbook gets the cell styles the rows use, before it is saved."""

    def __init__(self, ws: Any, kinds: Sequence[str]) -> None:
        # Text cells keep their XML by text, per column kind (a long text wraps).
        self.texts: dict[bool, dict[str, str]] = {False: {}, True: {}}
        self.columns = [
            (
                get_column_letter(i),
                kind,
                self.texts[kind == "long"] if kind not in NOT_TEXT else None,
            )
            for i, kind in enumerate(kinds, 1)
        ]
        self.amount = _style_id(ws, number_format=AMOUNT_FORMAT)
        self.date = _style_id(ws, number_format=DATE_FORMAT)
        self.wrapped = _style_id(ws, alignment=WRAPPED)
        self.quoted = _style_id(ws, quotePrefix=True)
        self.quoted_wrapped = _style_id(ws, quotePrefix=True, alignment=WRAPPED)
        self.epoch = ws.parent.epoch
        self.dates: dict[Any, str] = {}

    def row(self, number: int, values: Sequence[Any]) -> str:
        cells = [f'<row r="{number}">']
        append = cells.append
        for (letter, kind, texts), value in zip(self.columns, values, strict=True):
            if value is None or value == "":
                continue
            if texts is not None and (kind != "int" or isinstance(value, str)):
                if type(value) is not str:
                    value = str(value)
                # Units, inspections, labels and names repeat from row to row.
                body = texts.get(value)
                if body is None:
                    body = self.text(value, wrap=kind == "long")
                    if len(value) <= CACHED_CHARS and len(texts) < CACHED_TEXTS:
                        texts[value] = body
            elif kind == "date":
                body = self.dates.get(value)
                if body is None:
                    serial = safe_string(to_excel(value, self.epoch))
                    body = self.dates[value] = f' s="{self.date}" t="n"><v>{serial}</v></c>'
            elif kind == "amount":
                body = f' s="{self.amount}" t="n"><v>{safe_string(value)}</v></c>'
            else:  # int
                short = type(value) is int and -(10**15) < value < 10**15
                body = f' t="n"><v>{value if short else safe_string(value)}</v></c>'
            append(f'<c r="{letter}{number}"{body}')
        append("</row>")
        return "".join(cells)

    def text(self, value: str, *, wrap: bool) -> str:
        """A text cell (after its reference) that no spreadsheet will ever evaluate:
        formula-like text is a string with Excel's quote prefix (the stored form of a typed
        apostrophe), so it stays text even when someone edits the cell; the text itself is
        kept as it was (an import reads back exactly what was exported)."""
        if len(value) > MAX_CELL_CHARS or _SPECIAL.search(value):
            value = clean_text(value)
            escaped = value.translate(_ESCAPES)
            value = value.replace("\ufffe", "").replace("\uffff", "")
        else:
            escaped = value
        if is_formula_like(value):
            style = f' s="{self.quoted_wrapped if wrap else self.quoted}"'
        elif wrap and value:
            style = f' s="{self.wrapped}"'
        else:
            style = ""
        if not value:
            return f'{style} t="inlineStr"></c>'
        space = ' xml:space="preserve"' if value != value.strip() else ""
        return f'{style} t="inlineStr"><is><t{space}>{escaped}</t></is></c>'


def _style_id(ws: Any, **style: Any) -> int:
    """Register a cell style in the sheet's workbook (written with it) and return its index."""
    cell = WriteOnlyCell(ws)
    for name, value in style.items():
        setattr(cell, name, value)
    return int(cell.style_id)


def save_with_rows(
    wb: Any,
    ws: Any,
    out: IO[bytes] | str,
    rows: Iterable[Sequence[Any]],
    writer: RowWriter,
    *,
    first_row: int,
    finish: Callable[[int], tuple[str, str]],
    progress: Callable[[int], None] | None = None,
    every: int = 2000,
) -> int:
    """Save `wb`, laid out without data rows, to `out` with `rows` streamed into `ws` from row
    `first_row` on; return the number of rows. `finish(count)` gives the sheet tail's text to
    replace once the rows are counted and its replacement (the auto-filter's range).
    `progress(n)` is called every `every` rows and at the end."""
    layout = io.BytesIO()
    wb.save(layout)
    sheet_path = ws.path.lstrip("/")
    count = 0
    with zipfile.ZipFile(layout) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in source.infolist():
            data = source.read(info)
            if info.filename != sheet_path:
                zf.writestr(info, data)
                continue
            sheet = data.decode()
            end = sheet.index("</sheetData>")
            entry = zipfile.ZipInfo(info.filename, info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(entry, "w") as member:
                member.write(sheet[:end].encode())
                with Compressing(member) as sink:
                    count = _write_rows(sink, rows, writer, first_row, progress, every)
                placeholder, replacement = finish(count)
                tail = sheet[end:]
                if tail.count(placeholder) != 1:
                    raise ValueError(f"sheet tail without exactly one {placeholder!r}")
                member.write(tail.replace(placeholder, replacement).encode())
    if progress is not None:
        progress(count)
    return count


class Compressing:
    """Writes to a zip member from a second thread: deflating the XML (a fifth of the time at
    the default level) overlaps building the next rows and reading the next cases, as zlib
    releases the GIL. At most a few writes wait in the queue; an error in the thread is raised
    at the next write or at the end."""

    def __init__(self, member: IO[bytes]) -> None:
        self.member = member
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ledger-deflate", daemon=True)

    def _run(self) -> None:
        while (chunk := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.member.write(chunk)
                except BaseException as error:  # raised in the writing thread
                    self.error = error

    def __enter__(self) -> Compressing:
        self.thread.start()
        return self

    def write(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(chunk)

    def __exit__(self, *exc: object) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and exc[0] is None:
            raise self.error


def _write_rows(
    member: Compressing,
    rows: Iterable[Sequence[Any]],
    writer: RowWriter,
    first_row: int,
    progress: Callable[[int], None] | None,
    every: int,
) -> int:
    count = 0
    pending: list[str] = []
    for count, values in enumerate(rows, 1):
        pending.append(writer.row(first_row + count - 1, values))
        if len(pending) >= ROWS_PER_WRITE:
            member.write("".join(pending).encode())
            pending.clear()
        if progress is not None and count % every == 0:
            progress(count)
    member.write("".join(pending).encode())
    return count
