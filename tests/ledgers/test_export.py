"""The exported ledger: the selector's rows for the user and filters, in the office layout,
with dates as dates, formula-like text kept as text, and bounded memory."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from cases import organisation
from cases import services as case_services
from cases.filters import CaseFilter
from cases.models import Case
from cases.selectors import case_list
from ledgers import selectors, services, workbook
from ledgers.columns import COLUMNS
from ledgers.workbook import FIRST_DATA_ROW, HEADER_ROWS
from tests.factories import add_evidence, days, drive_to
from tests.ledgers.helpers import LABELS, codes, export_workbook, ledger_rows, query

pytestmark = pytest.mark.django_db


@pytest.fixture
def cases(world):
    return {
        "own": world.case(world.unit_a, title="本单位问题", deadline=days(-3)),
        "child": world.case(world.unit_a_child, title="下级单位问题"),
        "sibling": world.case(world.unit_b, title="兄弟单位问题", is_key_problem=True),
        "city": world.case(world.city_dept, title="市直问题", deadline=days(3)),
        "restricted": world.case(world.unit_a, inspection=world.restricted, title="线索问题"),
    }


@pytest.mark.parametrize(
    "persona",
    [
        "supervisor",
        "county_a_supervisor",
        "api_reader",
        "inspector_a",
        "inspector_b",
        "no_unit",
        "admin",
    ],
)
def test_it_exports_exactly_the_selectors_rows_for_each_user(world, cases, persona):
    user = getattr(world, persona)
    expected = list(case_list(user).order_by("deadline", "pk").values_list("code", flat=True))
    assert codes(export_workbook(user)) == expected


def test_it_never_exports_another_units_cases(world, cases):
    exported = set(codes(export_workbook(world.inspector_a)))
    assert exported == {cases["own"].code, cases["child"].code}
    assert cases["restricted"].code not in codes(export_workbook(world.api_reader))
    # A filter naming another unit's subtree matches nothing rather than widening the scope.
    assert codes(export_workbook(world.inspector_a, query(responsible_unit=world.unit_b.pk))) == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "in_progress"},
        {"light": "red"},
        {"key_problem": "true"},
        {"search": "单位问题"},
        {"region": "county_a"},
        {"responsible_unit": "unit_a", "ordering": "-deadline"},
        {"deadline_before": "+5", "ordering": "code"},
    ],
)
def test_it_exports_the_rows_of_the_list_filters(world, cases, params):
    drive_to(cases["city"], "in_progress", world.supervisor)
    ids = {"county_a": world.county_a.pk, "unit_a": world.unit_a.pk}
    params = {k: str(ids.get(v, v)) for k, v in params.items()}
    if params.get("deadline_before") == "+5":
        params["deadline_before"] = days(5).isoformat()
    filtered = CaseFilter(QueryDict(query(**params)), queryset=case_list(world.supervisor)).qs
    # The list's order, with ties broken by id as the export does.
    expected = list(
        filtered.order_by(*filtered.query.order_by, "pk").values_list("code", flat=True)
    )
    exported = codes(export_workbook(world.supervisor, query(**params)))
    assert exported == expected if "ordering" in params else sorted(exported) == sorted(expected)
    assert exported, "the filter should match something"


def test_it_refuses_invalid_filters(world):
    with pytest.raises(Exception, match="筛选条件有误"):
        export_workbook(world.supervisor, query(status="bogus"))


def test_it_writes_the_title_headers_frozen_panes_and_widths(world, cases):
    sheet = export_workbook(world.supervisor, query(inspection=world.inspection.pk)).worksheets[0]
    today = timezone.localdate()
    assert sheet["A1"].value == f"{world.inspection.name}整改台账（截至{today:%Y-%m-%d}）"
    assert "共 4 个问题" in sheet["A2"].value and "检查：" in sheet["A2"].value
    merged = {str(r) for r in sheet.merged_cells.ranges}
    last = sheet.cell(row=HEADER_ROWS, column=len(LABELS)).column_letter
    assert {f"A1:{last}1", f"A2:{last}2", "A3:A4"} <= merged
    assert sheet["B3"].value == "问题情况" and sheet["A3"].value == "序号"
    assert [c.value for c in sheet[HEADER_ROWS]][1:] == LABELS[1:]
    for label in (
        "序号",
        "问题编号",
        "问题描述",
        "责任单位",
        "责任人",
        "整改措施",
        "整改时限",
        "整改状态",
        "完成情况",
        "佐证材料数",
        "所属区县",
        "是否重点难点",
        "事项进度",
        "整改方式",
        "问题来源",
        "所属检查",
    ):
        assert label in LABELS
    assert sheet.freeze_panes == f"C{FIRST_DATA_ROW}"
    assert sheet.column_dimensions["E"].width == 30  # 问题标题
    assert sheet.auto_filter.ref == f"A{HEADER_ROWS}:{last}{HEADER_ROWS + 4}"
    assert sheet.print_title_rows == f"$3:${HEADER_ROWS}"


def test_it_writes_dates_as_dates_with_a_date_format(world):
    case = world.case(world.unit_a, deadline=date(2024, 6, 30))
    drive_to(world.case(world.unit_a, deadline=date(2024, 7, 1)), "completed", world.supervisor)
    sheet = export_workbook(world.supervisor).worksheets[0]
    deadline = sheet.cell(row=FIRST_DATA_ROW, column=LABELS.index("整改时限") + 1)
    assert deadline.value == datetime(2024, 6, 30) and deadline.is_date
    assert deadline.number_format == "yyyy-mm-dd"
    closed = sheet.cell(row=FIRST_DATA_ROW + 1, column=LABELS.index("办结日期") + 1)
    assert closed.is_date and closed.value.date() == timezone.localdate()
    row = ledger_rows(export_workbook(world.supervisor))[0]
    assert row["问题编号"] == case.code and row["序号"] == 1


def test_it_writes_every_column_of_a_case(world):
    problem = world.case(
        world.unit_a,
        title="王莽岭景区",
        description="描述\n第二行",
        is_key_problem=True,
        amount=Decimal("2274000000.00"),
        method="new_window",
        source="province_feedback",
        measures="措施",
        owner=world.inspector_a,
    )
    world.case(world.unit_a, parent=problem, title="项目一")
    case_services.case_update_rectification(
        actor=world.supervisor, case_id=problem.pk, progress="进展"
    )
    for _ in range(2):
        add_evidence(world.supervisor, problem, "a.pdf")
    row = next(
        r for r in ledger_rows(export_workbook(world.supervisor)) if r["问题编号"] == problem.code
    )
    assert row == row | {
        "所属检查": world.inspection.name,
        "问题来源": "省级反馈",
        "问题标题": "王莽岭景区",
        "问题描述": "描述\n第二行",
        "是否重点难点": "是",
        "涉及金额（元）": 2274000000,
        "责任单位": "甲县局",
        "所属区县": "甲县",
        "责任人": "inspector_a",
        "整改措施": "措施",
        "整改方式": "新设窗口",
        "完成情况": "进展",
        "整改状态": "待整改",
        "红黄绿灯": "绿灯",
        "事项进度": "0/1",
        "佐证材料数": 2,
        "所属问题编号": None,
    }
    item = next(
        r for r in ledger_rows(export_workbook(world.supervisor)) if r["问题标题"] == "项目一"
    )
    assert item["所属问题编号"] == problem.code


FORMULAS = [
    '=HYPERLINK("http://evil.example","点我")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",
    "#N/A",
    "=1",
]


def test_it_writes_formula_like_text_so_that_excel_never_evaluates_it(world):
    for text in FORMULAS:
        world.case(world.unit_a, title=f"标题{text}", description=text, measures=text)
    out = io.BytesIO()
    services.export_write(user=world.supervisor, query="", out=out)
    with zipfile.ZipFile(out) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml  # not a single formula
    sheet = load_workbook(out).worksheets[0]
    for label in ("问题描述", "整改措施"):
        column = LABELS.index(label) + 1
        cells = [sheet.cell(row=r, column=column) for r in range(FIRST_DATA_ROW, sheet.max_row + 1)]
        # The text exactly as written (lxml escapes a lone CR, so it survives the XML).
        assert sorted(c.value for c in cells) == sorted(FORMULAS)
        for cell in cells:
            assert cell.data_type == "s", cell.value
            assert cell.quotePrefix, cell.value  # Excel's stored apostrophe: text when edited


def test_it_leaves_ordinary_text_unstyled(world):
    world.case(world.unit_a, title="普通标题")
    sheet = export_workbook(world.supervisor).worksheets[0]
    cell = sheet.cell(row=FIRST_DATA_ROW, column=LABELS.index("问题标题") + 1)
    assert cell.value == "普通标题" and cell.data_type == "s" and not cell.quotePrefix


def test_it_fetches_evidence_counts_without_a_query_per_row(world):
    def queries_for_export() -> int:
        with CaptureQueriesContext(connection) as captured:
            export_workbook(world.supervisor)
        return len(captured)

    for _ in range(3):
        case = world.case(world.unit_a)
        add_evidence(world.supervisor, case, "a.pdf")
    few = queries_for_export()
    for _ in range(12):
        world.case(world.unit_b, owner=world.inspector_b)
    assert (few, queries_for_export()) == (5, 5)


def test_it_streams_rows_in_bounded_memory(world, monkeypatch):
    """The design that keeps 100k rows in a few hundred MB (measured by the benchmark): a
    write-only workbook and the queryset read in chunks. A few thousand rows as a smoke run."""
    template = world.case(world.unit_a, measures="措施" * 100)
    today = timezone.localdate()
    Case.objects.bulk_create(
        Case(
            code=f"BULK-{n:05d}",
            title=f"批量问题{n}",
            description="描述" * 50,
            inspection=world.inspection,
            responsible_unit=world.unit_a,
            supervising_unit=world.commission,
            region=world.county_a,
            deadline=today + timedelta(days=n % 60),
            original_deadline=today,
            measures=template.measures,
            progress="进展" * 100,
        )
        for n in range(3000)
    )
    chunk_sizes: list[int | None] = []
    iterator = QuerySet.iterator

    def spy_iterator(self, chunk_size=None):
        chunk_sizes.append(chunk_size)
        return iterator(self, chunk_size=chunk_size)

    books: list = []
    new_workbook = workbook.new_workbook

    def spy_workbook():
        made = new_workbook()
        books.append(made[0])
        return made

    monkeypatch.setattr(QuerySet, "iterator", spy_iterator)
    monkeypatch.setattr(workbook, "new_workbook", spy_workbook)

    tracemalloc.start()
    try:
        out = io.BytesIO()
        count = services.export_write(user=world.supervisor, query="", out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 3001
    assert books and all(book.write_only for book in books)
    assert chunk_sizes == [2000]
    # The output itself is in this BytesIO; the rest is two chunks of rows and openpyxl's
    # buffers, not the whole ledger.
    assert peak - len(out.getvalue()) < 60 * 1024 * 1024, peak
    sheet = load_workbook(out, read_only=True).worksheets[0]
    assert sum(1 for _ in sheet.iter_rows(min_row=FIRST_DATA_ROW)) == 3001


def test_it_orders_rows_totally(world):
    deadline = days(10)
    made = [world.case(world.unit_a, deadline=deadline) for _ in range(5)]
    assert codes(export_workbook(world.supervisor)) == [case.code for case in made]
    cases = selectors.ledger_cases(world.supervisor, QueryDict(""))
    assert list(cases.query.order_by) == ["deadline", "id"]


def test_it_keeps_a_formula_like_inspection_name_in_the_title_as_text(world):
    inspection = organisation.inspection_create(
        name='=HYPERLINK("http://evil.example")',
        kind="special",
        year=2024,
        issuing_unit=world.commission,
    )
    world.case(world.unit_a, inspection=inspection)
    sheet = export_workbook(world.supervisor, query(inspection=inspection.pk)).worksheets[0]
    assert sheet["A1"].data_type == "s" and sheet["A1"].value.startswith("=HYPERLINK")
    assert sheet.cell(row=FIRST_DATA_ROW, column=LABELS.index("所属检查") + 1).data_type == "s"


def test_it_writes_text_cells_as_openpyxl_reads_them_back():
    """The rows are written as sheet XML by ledgers.sheetrows: what a spreadsheet reads is the
    text as stored (escapes, line breaks, edge spaces), less what the file format cannot hold,
    with the same styles whether a text is new or repeated from an earlier row."""
    texts = [" 前后空格 ", "a\r\nb", "x\x01y", "a\ufffeb", "<&>\"'", "长" * 40000, "=1", "普通"]
    expected = [" 前后空格 ", "a\r\nb", "xy", "ab", "<&>\"'", "长" * 32767, "=1", "普通"]
    kinds = [column.kind for column in COLUMNS]
    title_at, long_at = LABELS.index("问题标题"), LABELS.index("问题描述")
    amount_at, date_at = LABELS.index("涉及金额（元）"), LABELS.index("整改时限")

    def row(n: int, text: str) -> list:
        values: list = [None] * len(kinds)
        values[0], values[title_at], values[long_at] = n, text, text
        values[amount_at], values[date_at] = Decimal("1234.50"), date(2024, 6, 30)
        return values

    out = io.BytesIO()
    rows = [row(n, text) for n, text in enumerate(texts + texts, 1)]  # the second time cached
    assert workbook.write_ledger(out, title="t", subtitle="s", rows=rows) == 2 * len(texts)
    sheet = load_workbook(out).worksheets[0]
    for offset, text in enumerate(expected + expected):
        title = sheet.cell(row=FIRST_DATA_ROW + offset, column=title_at + 1)
        long = sheet.cell(row=FIRST_DATA_ROW + offset, column=long_at + 1)
        assert (title.value, long.value) == (text, text)
        assert title.data_type == long.data_type == "s"
        assert title.quotePrefix == long.quotePrefix == text.startswith("=")
        assert not title.alignment.wrap_text and long.alignment.wrap_text
        amount = sheet.cell(row=FIRST_DATA_ROW + offset, column=amount_at + 1)
        assert amount.value == 1234.5 and amount.number_format == "#,##0.00"
        deadline = sheet.cell(row=FIRST_DATA_ROW + offset, column=date_at + 1)
        assert deadline.value == datetime(2024, 6, 30) and deadline.number_format == "yyyy-mm-dd"
    assert sheet.cell(row=FIRST_DATA_ROW, column=1).value == 1
    assert sheet.auto_filter.ref.endswith(str(HEADER_ROWS + 2 * len(texts)))
