"""Ledger files: writing the .xlsx layout and reading .xlsx or .csv ledgers back as text cells.

No database here: the services hand rows in and take rows out.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from cases.errors import InvalidInput

from .columns import BY_KEY, COLUMNS, Column, header_names, normalise
from .sheetrows import (
    WRAPPED,
    RowWriter,
    clean_text,
    is_formula_like,
    save_with_rows,
)

logger = logging.getLogger(__name__)

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Rows above the data: title, subtitle, column groups, column names.
HEADER_ROWS = 4
FIRST_DATA_ROW = HEADER_ROWS + 1
_thin = Side(style="thin", color="999999")
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="E8EEF5")
_HEADER_BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)
_CENTRED = Alignment(horizontal="center", vertical="center", wrap_text=True)


class LedgerFileError(InvalidInput):
    """The file as a whole cannot be read as a ledger (nothing about single rows)."""

    code = "ledger_file"


# --- Writing -------------------------------------------------------------------------------


def text_cell(ws: Any, value: str, *, wrap: bool = False, styled: bool = False) -> Any:
    """A text cell that no spreadsheet will ever evaluate.

    openpyxl would store "=..." as a formula and "#N/A" as an error; anything that looks like
    a formula is written as a string (data type "s") with Excel's quote prefix, the stored form
    of a typed apostrophe, so that it stays text even when someone edits the cell. The text
    itself is kept as it was: an import reads back exactly what was exported. A plain value is
    returned when no cell object is needed (most cells: cheaper to write); `styled` asks for a
    cell to style.
    """
    value = clean_text(value)
    risky = is_formula_like(value)
    if not (risky or styled or (wrap and value)):
        return value
    cell = WriteOnlyCell(ws, value=value)
    if risky:
        cell.data_type = "s"
        cell.quotePrefix = True
    if wrap:
        cell.alignment = WRAPPED
    return cell


def _header_cell(ws: Any, value: Any) -> Any:
    cell = text_cell(ws, str(value), styled=True) if value is not None else WriteOnlyCell(ws)
    cell.font, cell.fill, cell.border, cell.alignment = (
        _HEADER_FONT,
        _HEADER_FILL,
        _HEADER_BORDER,
        _CENTRED,
    )
    return cell


def new_workbook() -> tuple[Any, Any]:
    """A write-only workbook: rows go to a temporary file as they are appended, so memory stays
    flat whatever the number of rows."""
    workbook = Workbook(write_only=True)
    return workbook, workbook.create_sheet(_("整改台账"))


def lay_out_sheet(ws: Any, columns: Sequence[Column], *, title: str, subtitle: str) -> str:
    """The ledger's layout on a write-only sheet, before any data row: widths, frozen panes,
    A3 landscape print setup, the title and subtitle rows and the two header rows (groups
    above their columns). Returns the last column's letter. Shared by the ledger and the
    other tables kept in its style (documents.lists)."""
    last = get_column_letter(len(columns))
    # Everything about the sheet must be set before the first row: write-only mode streams.
    for index, column in enumerate(columns, 1):
        ws.column_dimensions[get_column_letter(index)].width = column.width
    ws.freeze_panes = f"C{FIRST_DATA_ROW}"  # headers and 序号/问题编号 stay in view
    ws.print_title_rows = f"3:{HEADER_ROWS}"  # and on every printed page
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A3  # Chinese offices print ledgers on A3
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.gridLines = True

    # The title names an inspection, which is user text like any other.
    title_cell = text_cell(ws, title, styled=True)
    title_cell.font = Font(bold=True, size=16)
    title_cell.alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 32
    ws.append([title_cell])
    ws.merged_cells.add(f"A1:{last}1")
    sub_cell = text_cell(ws, subtitle, styled=True)
    sub_cell.alignment = Alignment(horizontal="left", vertical="center")
    ws.append([sub_cell])
    ws.merged_cells.add(f"A2:{last}2")

    # Two header rows: groups above their columns; a column without a group spans both rows.
    groups: list[Any] = []
    names: list[Any] = []
    start = 1
    for index, column in enumerate(columns, 1):
        if column.group is None:
            groups.append(_header_cell(ws, column.label))
            names.append(_header_cell(ws, None))
            ws.merged_cells.add(f"{get_column_letter(index)}3:{get_column_letter(index)}4")
        else:
            first_of_group = index == 1 or columns[index - 2].group != column.group
            groups.append(_header_cell(ws, column.group if first_of_group else None))
            names.append(_header_cell(ws, column.label))
            if first_of_group:
                start = index
            last_of_group = index == len(columns) or columns[index].group != column.group
            if last_of_group and index > start:
                ws.merged_cells.add(f"{get_column_letter(start)}3:{get_column_letter(index)}3")
    ws.row_dimensions[4].height = 30
    ws.append(groups)
    ws.append(names)
    return last


def write_ledger(
    out: IO[bytes] | str,
    *,
    title: str,
    subtitle: str,
    rows: Iterable[Sequence[Any]],
    progress: Callable[[int], None] | None = None,
    every: int = 2000,
    workbook: tuple[Any, Any] | None = None,
) -> int:
    """Write the ledger layout with `rows` (values in COLUMNS order) to `out`; return the
    number of rows. `progress(n)` is called every `every` rows."""
    wb, ws = workbook or new_workbook()
    last = lay_out_sheet(ws, COLUMNS, title=title, subtitle=subtitle)

    # The rows go straight into the saved sheet (ledgers.sheetrows); the auto-filter covers
    # them once they are counted.
    writer = RowWriter(ws, [column.kind for column in COLUMNS])

    def auto_filter(count: int) -> str:
        return f"A{HEADER_ROWS}:{last}{HEADER_ROWS + max(count, 1)}"

    placeholder = auto_filter(0)
    ws.auto_filter.ref = placeholder

    def finish(count: int) -> tuple[str, str]:
        return f'<autoFilter ref="{placeholder}"', f'<autoFilter ref="{auto_filter(count)}"'

    return save_with_rows(
        wb, ws, out, rows, writer, first_row=FIRST_DATA_ROW, finish=finish,
        progress=progress, every=every,
    )  # fmt: skip


# --- Reading -------------------------------------------------------------------------------

MAX_COLUMNS = 64
HEADER_SEARCH_ROWS = 10
# Excel keeps formatted empty rows down to row 1048576 when someone formats whole columns;
# this many empty rows in a row end the ledger.
EMPTY_ROWS_END = 1000


@dataclass
class ReadLedger:
    columns: list[str]  # keys of the recognised columns the import reads, in file order
    rows: list[dict[str, Any]] = field(default_factory=list)  # {"row": n, "values": {...}}


def read_ledger(upload: IO[bytes], name: str, *, max_rows: int) -> ReadLedger:
    """Read an .xlsx or .csv ledger (UTF-8 with or without BOM, or GB18030, which Chinese
    Excel uses when it saves CSV). Refuses an unreadable file with LedgerFileError."""
    head = upload.read(8)
    upload.seek(0)
    if head.startswith(b"PK\x03\x04"):
        check_archive(upload)
        return _read_rows(_xlsx_rows(upload), max_rows=max_rows)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise LedgerFileError(_("这是旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV 后再上传。"))
    if name.lower().endswith((".xlsx", ".xlsm")):
        raise LedgerFileError(_("无法读取该 Excel 文件，请确认文件未损坏。"))
    return _read_rows(_csv_rows(upload.read()), max_rows=max_rows)


def check_archive(upload: IO[bytes]) -> None:
    """Refuse an .xlsx whose members would inflate past the limits, from the zip's central
    directory alone (nothing decompressed). The declared sizes hold: zipfile stops a member at
    its declared size and fails its CRC if the data says otherwise."""
    mb = 1024 * 1024
    try:
        members = zipfile.ZipFile(upload).infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        logger.info("unreadable xlsx zip: %r", error)
        raise LedgerFileError(_("无法读取该 Excel 文件，请确认文件未损坏。")) from None
    finally:
        upload.seek(0)
    total = sum(member.file_size for member in members)
    if total > settings.LEDGER_IMPORT_MAX_UNZIPPED_MB * mb:
        raise LedgerFileError(
            _("该 Excel 文件解压后超过 %(mb)s MB，请分成几个文件导入。")
            % {"mb": settings.LEDGER_IMPORT_MAX_UNZIPPED_MB}
        )
    for member in members:
        too_big = member.file_size > settings.LEDGER_IMPORT_MAX_MEMBER_MB * mb
        ratio = member.file_size / max(member.compress_size, 1)
        if too_big or (member.file_size > mb and ratio > settings.LEDGER_IMPORT_MAX_RATIO):
            raise LedgerFileError(
                _("该 Excel 文件中的“%(name)s”解压后过大（%(size)s MB），不像正常的台账，"
                  "未读取。") % {"name": member.filename[:80], "size": member.file_size // mb}
            )  # fmt: skip


def _xlsx_rows(upload: IO[bytes]) -> Iterator[list[Any]]:
    try:
        # data_only: a formula cell gives the value Excel last computed, not the formula.
        workbook = load_workbook(upload, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged or foreign zip
        logger.info("unreadable xlsx upload: %r", error)
        raise LedgerFileError(_("无法读取该 Excel 文件，请确认文件未损坏。")) from None
    try:
        # The ledger is the first sheet (the template's instructions come after it).
        for row in workbook.worksheets[0].iter_rows(max_col=MAX_COLUMNS, values_only=True):
            yield list(row)
    except LedgerFileError:
        raise
    except Exception as error:
        logger.info("unreadable xlsx sheet: %r", error)
        raise LedgerFileError(_("无法读取该 Excel 文件，请确认文件未损坏。")) from None
    finally:
        workbook.close()


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        # Strict UTF-8 first: GBK text is almost never valid UTF-8, the reverse often is.
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise LedgerFileError(_("无法识别 CSV 文件的编码，请保存为 UTF-8 或 GB18030（GBK）编码。"))
    if "\x00" in text:
        raise LedgerFileError(_("文件格式无法识别，请上传 .xlsx 或 CSV 文件。"))
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            yield row[:MAX_COLUMNS]
    except csv.Error as error:
        raise LedgerFileError(_("CSV 文件格式有误：%(error)s") % {"error": error}) from None


def _read_rows(rows: Iterator[list[Any]], *, max_rows: int) -> ReadLedger:
    names = header_names()
    code_names = {name for name, key in names.items() if key == "code"}
    previous: list[Any] = []
    header_row = 0
    for number, row in enumerate(rows, 1):
        if any(normalise(v) in code_names for v in row if v is not None):
            header_row = number
            break
        if number >= HEADER_SEARCH_ROWS:
            break
        previous = row
    if not header_row:
        raise LedgerFileError(
            _("未找到表头：前 %(rows)s 行中须有一行包含“问题编号”列。")
            % {"rows": HEADER_SEARCH_ROWS}
        )
    # A header merged over two rows has its text in the upper row only.
    keys: dict[int, str] = {}
    for index, value in enumerate(row):
        text = value
        if text in (None, "") and index < len(previous):
            text = previous[index]
        key = names.get(normalise(text)) if text not in (None, "") else None
        if key is None or not BY_KEY[key].imported:
            continue
        if key in keys.values():
            raise LedgerFileError(_("“%(column)s”列出现了两次。") % {"column": BY_KEY[key].label})
        keys[index] = key
    ledger = ReadLedger(columns=list(keys.values()))
    empty = 0
    longest = settings.LEDGER_IMPORT_MAX_CELL_CHARS
    for number, row in enumerate(rows, header_row + 1):
        if any(isinstance(v, str) and len(v) > longest for v in row):
            raise LedgerFileError(
                _("第 %(row)s 行有单元格超过 %(max)s 个字符，未读取该文件。")
                % {"row": number, "max": longest}
            )
        values = {key: _text(row[i], BY_KEY[key]) for i, key in keys.items() if i < len(row)}
        if not any(values.values()):
            empty += 1
            if empty >= EMPTY_ROWS_END:
                break
            continue
        empty = 0
        if len(ledger.rows) >= max_rows:
            raise LedgerFileError(
                _("文件超过 %(max)s 行，请分成几个文件导入。") % {"max": max_rows}
            )
        ledger.rows.append({"row": number, "values": values})
    return ledger


_FLOAT_INT = re.compile(r"^-?\d+\.0+$")


def _text(value: Any, column: Column) -> str:
    """A cell as text: what the import parses, and what the job keeps as JSON."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if column.kind == "date" else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal) and column.kind == "date":
        # A date typed into an unformatted cell: Excel's day number.
        try:
            return from_excel(value).date().isoformat()
        except (ValueError, OverflowError, TypeError):
            return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if _FLOAT_INT.match(text) else text
    return str(value)


# --- The import template ---------------------------------------------------------------------


def template_workbook(out: IO[bytes] | str, *, choices: dict[str, list[str]]) -> None:
    """The ledger layout without rows: drop-down lists where a column takes fixed values, and a
    second sheet explaining every column (an example row in the ledger itself would be
    imported by whoever forgets to delete it)."""
    wb, ws = new_workbook()
    positions = {column.key: index for index, column in enumerate(COLUMNS, 1)}
    for key, values in choices.items():
        letter = get_column_letter(positions[key])
        validation = DataValidation(
            type="list", formula1='"' + ",".join(values) + '"', allow_blank=True
        )
        validation.add(f"{letter}{FIRST_DATA_ROW}:{letter}5000")
        ws.data_validations.append(validation)

    notes = wb.create_sheet(_("填写说明"))
    notes.column_dimensions["A"].width = 18
    notes.column_dimensions["B"].width = 10
    notes.column_dimensions["C"].width = 90
    notes.append([_header_cell(notes, text) for text in (_("列"), _("导入时"), _("填写要求"))])
    for column in COLUMNS:
        usage = _("读取") if column.imported else _("不读取")
        text = str(column.help)
        if column.key in choices:
            text = (text + " " if text else "") + _("可选：%(values)s") % {
                "values": "、".join(choices[column.key])
            }
        if not column.imported:
            text = _("导出时由系统填写，导入时忽略。")
        notes.append([str(column.label), usage, text])
    notes.append([])
    for line in (
        _("表头（第1至4行）请勿删除或改动；可以删去不需要更新的列，缺少的列对应信息保持不变。"),
        _("以问题编号匹配：编号已存在则按表中内容更新该问题，编号不存在则登记新问题。"),
        _("上传后先预览每一行的问题，确认后一次性导入：全部成功或全部不导入。"),
        _("同一文件重复导入不会产生任何变化；导出的台账可以修改后直接导入。"),
    ):
        notes.append([line])
    write_ledger(
        out,
        title=_("整改台账导入模板"),
        subtitle=_("从第5行起每行填写一个问题；填写说明见“填写说明”工作表。"),
        rows=[],
        workbook=(wb, ws),
    )
