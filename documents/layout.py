"""The national document layout (党政机关公文格式, GB/T 9704-2012) in python-docx.

A4 (210 × 297 mm); margins top 37, bottom 35, left 28, right 26 mm (a 156 × 225 mm text block
of 22 lines of 28 characters); the title in 2号方正小标宋简体, the text in 3号仿宋_GB2312,
headings in 黑体 (first level) and 楷体_GB2312 (second); page numbers in 4号宋体 as "— 1 —",
odd pages on the right and even pages on the left; the 版记 (抄送, 印发机关 and 印发日期) between
rules at the end. Chinese fonts are named for East Asian text (w:eastAsia: python-docx only
sets the Latin names by itself) with Times New Roman for Latin text and digits; a machine
without the 方正 or _GB2312 fonts shows the nearest installed one (Word, WPS and LibreOffice
all substitute by name), and the document keeps the names the office's own machines have.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import _Cell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING_1_FONT = "黑体"
HEADING_2_FONT = "楷体_GB2312"
PAGE_NUMBER_FONT = "宋体"
LATIN_FONT = "Times New Roman"

SIZE_2 = Pt(22)  # 2号
SIZE_3 = Pt(16)  # 3号
SIZE_4 = Pt(14)  # 4号
SIZE_TABLE = Pt(12)  # 小4号, for tables
LINE = Pt(28.95)  # 22 lines in the 225 mm text block
INDENT = Pt(32)  # 空二字 of 3号 text

# Style names, as a clerk sees them in Word or WPS.
TITLE = "公文标题"
ADDRESSEE = "公文主送机关"
BODY = "公文正文"
HEADING_1 = "公文一级标题"
HEADING_2 = "公文二级标题"
SIGNATURE = "公文落款"
IMPRINT = "公文版记"
TABLE_TEXT = "公文表格"
TABLE_HEADER = "公文表头"
ATTACHMENT_LABEL = "公文附件标识"

# Elements that come after w:pBdr in w:pPr (the schema's order, which Word enforces).
_AFTER_BORDERS = (
    "w:shd",
    "w:tabs",
    "w:suppressAutoHyphens",
    "w:kinsoku",
    "w:wordWrap",
    "w:overflowPunct",
    "w:topLinePunct",
    "w:autoSpaceDE",
    "w:autoSpaceDN",
    "w:bidi",
    "w:adjustRightInd",
    "w:snapToGrid",
    "w:spacing",
    "w:ind",
    "w:contextualSpacing",
    "w:mirrorIndents",
    "w:suppressOverlap",
    "w:jc",
    "w:textDirection",
    "w:textAlignment",
    "w:textboxTightWrap",
    "w:outlineLvl",
    "w:divId",
    "w:cnfStyle",
    "w:rPr",
    "w:sectPr",
    "w:pPrChange",
)
_AFTER_OUTLINE = ("w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")


def clean(text: Any) -> str:
    """Text a .docx can hold: XML forbids most control characters (python-docx refuses them)."""
    return ILLEGAL_CHARACTERS_RE.sub("", str(text))


def set_fonts(rpr: Any, east_asia: str, latin: str = LATIN_FONT) -> None:
    """Name the fonts of a style's or run's properties: East Asian text and Latin text. Theme
    fonts would override the names: they are dropped."""
    fonts = rpr.get_or_add_rFonts()
    for name in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        if fonts.get(qn(name)) is not None:
            del fonts.attrib[qn(name)]
    for name in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(name), latin)
    fonts.set(qn("w:eastAsia"), east_asia)


def _style(doc: Any, name: str, font: str, size: Pt, **options: Any) -> Any:
    style = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = doc.styles["Normal"]
    style.quick_style = True
    style.font.size = size
    style.font.bold = options.get("bold", False)
    set_fonts(style.element.get_or_add_rPr(), font)
    fmt = style.paragraph_format
    fmt.space_before = Pt(0)
    fmt.space_after = options.get("space_after", Pt(0))
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = options.get("line", LINE)
    fmt.first_line_indent = options.get("indent", INDENT)
    fmt.alignment = options.get("align", WD_ALIGN_PARAGRAPH.JUSTIFY)
    fmt.widow_control = True
    if "outline" in options:
        outline = OxmlElement("w:outlineLvl")
        outline.set(qn("w:val"), str(options["outline"]))
        style.element.get_or_add_pPr().insert_element_before(outline, *_AFTER_OUTLINE)
    return style


def new_document(*, title: str, author: str, landscape: bool = False) -> Any:
    """An empty document with the page, the styles and the page numbers of GB/T 9704."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.header_distance, section.footer_distance = Mm(15), Mm(23)
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = Mm(297), Mm(210)
        section.top_margin, section.bottom_margin = Mm(28), Mm(26)
        section.left_margin, section.right_margin = Mm(37), Mm(35)
        section.footer_distance = Mm(14)
    normal = doc.styles["Normal"]
    normal.font.size = SIZE_3
    set_fonts(normal.element.get_or_add_rPr(), BODY_FONT)
    _style(
        doc,
        TITLE,
        TITLE_FONT,
        SIZE_2,
        indent=Pt(0),
        align=WD_ALIGN_PARAGRAPH.CENTER,
        line=Pt(35),
        space_after=LINE,
    )
    _style(doc, ADDRESSEE, BODY_FONT, SIZE_3, indent=Pt(0))
    _style(doc, BODY, BODY_FONT, SIZE_3)
    _style(doc, HEADING_1, HEADING_1_FONT, SIZE_3, outline=0)
    _style(doc, HEADING_2, HEADING_2_FONT, SIZE_3, outline=1)
    signature = _style(
        doc, SIGNATURE, BODY_FONT, SIZE_3, indent=Pt(0), align=WD_ALIGN_PARAGRAPH.RIGHT
    )
    signature.paragraph_format.right_indent = Pt(64)  # 右空四字
    imprint = _style(
        doc, IMPRINT, BODY_FONT, SIZE_4, indent=Pt(0), line=Pt(28), align=WD_ALIGN_PARAGRAPH.LEFT
    )
    imprint.paragraph_format.left_indent = imprint.paragraph_format.right_indent = Pt(14)
    _style(
        doc, ATTACHMENT_LABEL, HEADING_1_FONT, SIZE_3, indent=Pt(0), align=WD_ALIGN_PARAGRAPH.LEFT
    )
    _style(
        doc,
        TABLE_TEXT,
        BODY_FONT,
        SIZE_TABLE,
        indent=Pt(0),
        line=Pt(18),
        align=WD_ALIGN_PARAGRAPH.LEFT,
    )
    _style(
        doc,
        TABLE_HEADER,
        HEADING_1_FONT,
        SIZE_TABLE,
        indent=Pt(0),
        line=Pt(18),
        align=WD_ALIGN_PARAGRAPH.CENTER,
    )
    _page_numbers(doc, section)
    doc.core_properties.title = clean(title)
    doc.core_properties.author = clean(author)
    doc.core_properties.last_modified_by = clean(author)
    doc.core_properties.comments = ""
    # The default template's first paragraph is empty: documents start with their own.
    body = doc.element.body
    for paragraph in list(body.iterchildren(qn("w:p"))):
        body.remove(paragraph)
    return doc


def _page_numbers(doc: Any, section: Any) -> None:
    """ "— 1 —" in 4号宋体: odd pages on the right, even pages on the left, 空一字."""
    doc.settings.odd_and_even_pages_header_footer = True
    for footer, align in ((section.footer, "right"), (section.even_page_footer, "left")):
        footer.is_linked_to_previous = False
        paragraph = footer.paragraphs[0]
        fmt = paragraph.paragraph_format
        if align == "right":
            fmt.alignment, fmt.right_indent = WD_ALIGN_PARAGRAPH.RIGHT, Pt(14)
        else:
            fmt.alignment, fmt.left_indent = WD_ALIGN_PARAGRAPH.LEFT, Pt(14)
        _run(paragraph, "— ", PAGE_NUMBER_FONT, SIZE_4)
        for kind in ("begin", "instr", "separate", "1", "end"):
            run = _run(paragraph, kind if kind == "1" else "", PAGE_NUMBER_FONT, SIZE_4)
            if kind == "instr":
                instr = OxmlElement("w:instrText")
                instr.set(qn("xml:space"), "preserve")
                instr.text = " PAGE "
                run._r.append(instr)
            elif kind != "1":
                char = OxmlElement("w:fldChar")
                char.set(qn("w:fldCharType"), kind)
                run._r.append(char)
        _run(paragraph, " —", PAGE_NUMBER_FONT, SIZE_4)


def _run(paragraph: Any, text: str, font: str, size: Pt) -> Any:
    run = paragraph.add_run(text)
    run.font.size = size
    set_fonts(run._r.get_or_add_rPr(), font)
    return run


def paragraph(doc: Any, text: str, style: str) -> Any:
    return doc.add_paragraph(clean(text), style=doc.styles[style])


def page_break(doc: Any) -> None:
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def table(
    doc: Any,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float] | None = None,
) -> Any:
    """A ruled table, its header row repeated on every page. Cells are reached through their
    own row elements: python-docx's `Row.cells` reads the whole table each time (quadratic)."""
    grid = doc.add_table(rows=0, cols=len(headers))
    grid.style = doc.styles["Table Grid"]
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    sizes = [Mm(width) for width in widths] if widths else None
    if sizes:
        for column, size in zip(grid.columns, sizes, strict=True):
            column.width = size
    header = _row(grid, headers, doc.styles[TABLE_HEADER], sizes)
    repeat = OxmlElement("w:tblHeader")
    repeat.set(qn("w:val"), "true")
    header.get_or_add_trPr().append(repeat)
    # Each data row a copy of one laid-out row with its texts replaced: python-docx takes
    # about a millisecond a cell, a copy a few microseconds.
    prototype = _row(grid, ["-"] * len(headers), doc.styles[TABLE_TEXT], sizes)
    grid._tbl.remove(prototype)
    for text in prototype.iter(qn("w:t")):
        text.set(qn("xml:space"), "preserve")
    for values in rows:
        tr = copy.deepcopy(prototype)
        grid._tbl.append(tr)
        texts = list(tr.iter(qn("w:t")))  # read first: a line break rewrites its run
        for tc, text, value in zip(tr.tc_lst, texts, values, strict=True):
            value = clean("" if value is None else value)
            if "\n" in value or "\t" in value:  # line breaks and tabs as Word's own
                _Cell(tc, grid).paragraphs[0].runs[0].text = value
            else:
                text.text = value
    return grid


def _row(grid: Any, values: Sequence[Any], style: Any, sizes: Sequence[Any] | None) -> Any:
    row = grid.add_row()
    for index, (tc, value) in enumerate(zip(row._tr.tc_lst, values, strict=True)):
        cell = _Cell(tc, grid)
        if sizes:
            tc.width = sizes[index]
        paragraph = cell.paragraphs[0]
        # The style's id set directly: python-docx looks the default style up on each set.
        paragraph._p.get_or_add_pPr().style = style.style_id
        paragraph.add_run(clean(value))
    return row._tr


def _borders(paragraph: Any, **edges: int) -> None:
    """Rules above or below a paragraph: edge -> width in eighths of a point."""
    borders = OxmlElement("w:pBdr")
    for edge in ("top", "bottom"):
        if edge in edges:
            rule = OxmlElement(f"w:{edge}")
            for name, value in (
                ("val", "single"),
                ("sz", str(edges[edge])),
                ("space", "1"),
                ("color", "000000"),
            ):
                rule.set(qn(f"w:{name}"), value)
            borders.append(rule)
    paragraph._p.get_or_add_pPr().insert_element_before(borders, *_AFTER_BORDERS)


THICK, THIN = 8, 6  # 版记's rules: 0.35 mm first and last, 0.25 mm between


def imprint(doc: Any, *, copy_to: str, issuer: str, day: str, width: Any) -> None:
    """The 版记 at the end: 抄送 (if any), then 印发机关 and 印发日期 on one line."""
    style = doc.styles[IMPRINT]
    if copy_to:
        copied = doc.add_paragraph(clean(f"抄送：{copy_to.rstrip('。')}。"), style=style)
        _borders(copied, top=THICK, bottom=THIN)
    printed = doc.add_paragraph(style=style)
    printed.add_run(clean(issuer))
    printed.add_run("\t" + clean(f"{day}印发"))
    printed.paragraph_format.tab_stops.add_tab_stop(width - Pt(28), WD_TAB_ALIGNMENT.RIGHT)
    _borders(printed, **({"bottom": THICK} if copy_to else {"top": THICK, "bottom": THICK}))


def text_width(doc: Any) -> Any:
    section = doc.sections[-1]
    return section.page_width - section.left_margin - section.right_margin


def to_bytes(doc: Any) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
