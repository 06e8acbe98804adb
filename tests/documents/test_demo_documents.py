"""The documents of the demo: a clerk downloads the report and the notice and finds the seed's
figures in the drafted text, computed from the ledger (cases/demo.py), not written in."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from django.test import Client
from docx.oxml.ns import qn

from cases import services
from cases.completion import completion_rows
from cases.dashboard import Scope, dashboard_figures
from cases.models import Case, Inspection, User
from documents import layout
from documents.figures import percent
from tests.documents.helpers import (
    all_text,
    east_asian_font,
    open_docx,
    open_workbook,
    paragraphs,
    sheet_rows,
    table_rows,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(_demo_db, settings):
    settings.EVIDENCE_ROOT = _demo_db
    return {u.username: u for u in User.objects.filter(username__in=USERS)}


USERS = ("supervisor", "inspector_lc", "inspector_gp", "api_reader")


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def code(code: str) -> int:
    return Inspection.objects.get(code=code).pk


def report(user: User, url: str = "/reports/progress.docx", **params):
    return open_docx(client_of(user).get(url, params))


def test_it_drafts_the_licensing_problem_from_its_items(demo):
    doc = report(demo["supervisor"], inspection=code("YS2023"))
    text = "\n".join(paragraphs(doc))
    # The 58 items: 2 on the negative list, the other 56 done, by the methods they used.
    assert "省级反馈事项58项，除2项纳入负面清单外，其余56项已全部整改到位" in text
    assert "对原有窗口充分授权24项、新设窗口18项、委托受理14项" in text
    # The city's and six counties' 263 items, all in.
    assert "自查发现事项263项，已全部整改到位" in text
    assert "整改完成率100%" in text
    assert (
        paragraphs(doc)[0]
        == "晋城市纪委监委关于2023年优化营商环境政治监督专项检查整改进展情况的报告"
    )


def test_the_figures_are_the_dashboards(demo):
    supervisor = demo["supervisor"]
    doc = report(supervisor)
    text = "\n".join(paragraphs(doc))
    assert "2023年耕地保护政治监督专项检查" in text and "整改完成率75%" in text
    # 王莽岭: 3 rectified, 1 close to done, 2 + 2 reported upward (escalated).
    assert "市级反馈事项8项，已整改到位3项，正在整改5项（其中4项已上报上级协调）" in text
    assert "陵川生态文化旅游示范区行政审批局“王莽岭景区锡崖沟索道站项目”" in text
    assert "阳城县规划和自然资源局“（示例）阳城县矿山生态修复责任主体不明确”（逾期" in text
    # The clue ledger, apart and only for those who read it.
    assert "限定范围台账共5件" in text
    # Attachment 1: every inspection's row is the dashboard's row.
    figures = dashboard_figures(supervisor, Scope())
    table = {row[1]: row for row in table_rows(doc)[0][1:]}
    assert set(table) == {row["name"] for row in figures["by_inspection"]} | {"合计"}
    for row in figures["by_inspection"]:
        shown = table[row["name"]]
        assert shown[2:5] == [str(row["total"]), str(row["done"]), percent(row["rate"])]
        assert shown[5] == (percent(row["on_time_rate"]) or "—")
    assert table["合计"][2] == str(figures["total"]["total"])


def test_the_item_level_counts_items(demo):
    text = all_text(report(demo["supervisor"], inspection=code("ZGFA2023"), level="item"))
    # The 8 projects: 3 of 8 done.
    assert "共有整改事项8个，已完成整改3个，整改完成率37.5%" in text


def test_the_document_is_laid_out_as_gb_t_9704(demo):
    doc = report(demo["supervisor"])
    section = doc.sections[0]

    def mm(length):  # stored in twips: a millimetre is not a whole number of them
        return round(length.mm, 1)

    assert (mm(section.page_width), mm(section.page_height)) == (210, 297)
    margins = (section.top_margin, section.bottom_margin, section.left_margin, section.right_margin)
    assert [mm(margin) for margin in margins] == [37, 35, 28, 26]
    assert doc.paragraphs[0].style.name == layout.TITLE
    assert east_asian_font(doc.styles[layout.TITLE]) == "方正小标宋简体"
    assert east_asian_font(doc.styles[layout.BODY]) == "仿宋_GB2312"
    assert east_asian_font(doc.styles[layout.HEADING_1]) == "黑体"
    assert east_asian_font(doc.styles[layout.HEADING_2]) == "楷体_GB2312"
    assert doc.styles[layout.BODY].font.size.pt == 16
    assert doc.styles[layout.TITLE].font.size.pt == 22
    headings = [p.text for p in doc.paragraphs if p.style.name == layout.HEADING_1]
    assert headings[:3] == ["一、各项检查整改进展", "二、逾期未完成的问题", "三、需上级协调的问题"]
    # Page numbers "— n —", on both odd and even pages.
    for footer in (section.footer, section.even_page_footer):
        xml = footer._element.xml
        assert "PAGE" in xml and "fldChar" in xml
        assert footer.paragraphs[0].text.startswith("— ") and footer.paragraphs[0].text.endswith(
            " —"
        )
    assert doc.settings.odd_and_even_pages_header_footer
    # The 版记 closes the document: 印发机关 and the day, between rules.
    last = doc.paragraphs[-1]
    assert last.style.name == layout.IMPRINT
    assert last.text.startswith("晋城市纪委监委\t") and last.text.endswith("印发")
    assert last._p.pPr.find(qn("w:pBdr")) is not None


def test_the_notice_leaves_out_restricted_unpublished_and_people(demo):
    supervisor = demo["supervisor"]
    hidden = Case.objects.get(title="（示例）阳城县矿山生态修复责任主体不明确")
    services.case_update_details(actor=supervisor, case_id=hidden.pk, not_for_publication=True)
    notice = all_text(report(supervisor, "/reports/notice.docx"))
    full = all_text(report(supervisor))
    assert hidden.title in full
    assert hidden.title not in notice
    assert "阳城县规划和自然资源局" not in notice  # its only overdue case was that one
    for restricted in ("问题线索", "限定范围台账", "涉黑涉恶"):
        assert restricted not in notice
    for name in ("杨海忠", "田康", "市纪委监委监督员"):
        assert name not in notice
    assert "关于晋城市整改情况的通报" in notice
    # The figures leave the unpublished case out: 5 of the 6 key problems.
    key = code("ZDNN2023")
    rows = {r[1]: r for r in table_rows(report(supervisor, "/reports/notice.docx"))[0]}
    assert rows["重点难点问题专报批办清单"][2] == "5"
    assert Inspection.objects.get(pk=key).cases.count() == 6


def test_an_inspector_gets_only_their_units_document(demo):
    text = all_text(report(demo["inspector_lc"]))
    assert "王莽岭" in text
    for foreign in ("2023年优化营商环境", "耕地保护", "问题线索", "高平市", "阳城县"):
        assert foreign not in text


def test_the_three_lists_as_a_workbook_and_as_tables(demo):
    supervisor = demo["supervisor"]
    client = client_of(supervisor)
    params = {"inspection": code("ZGFA2023")}
    book = open_workbook(client.get("/reports/lists.xlsx", params))
    assert book.sheetnames == ["问题清单", "任务清单", "责任清单"]
    problems = sheet_rows(book["问题清单"])
    assert [row[4] for row in problems] == [
        "王莽岭景区基础设施提升改造工程8个项目未按规定办理开工手续"
    ]
    assert book["问题清单"]["B4"].value == "问题编号"  # the ledger's header rows
    tasks = {row[3]: row for row in sheet_rows(book["任务清单"])}
    assert len(tasks) == 8 and tasks["王莽岭景区供水工程"][7] == "杨海忠"
    cases = Inspection.objects.get(code="ZGFA2023").cases.all()
    (unit,) = completion_rows(cases, group_by="unit")
    (row,) = sheet_rows(book["责任清单"])
    assert row[1:8] == [
        unit.name,
        "陵川县",
        "杨海忠",
        unit.total,
        unit.done,
        percent(unit.rate),
        unit.overdue,
    ]
    doc = open_docx(client.get("/reports/lists.docx", params))
    tables = table_rows(doc)
    assert len(tables) == 3
    assert tables[1][0][3] == "整改任务" and len(tables[1]) == 9  # header and 8 tasks
    assert doc.sections[0].page_width > doc.sections[0].page_height  # landscape


def test_the_report_page_links_the_downloads_with_its_filters(demo):
    page = client_of(demo["supervisor"]).get("/reports/progress/", {"level": "item"})
    html = page.content.decode()
    for url in (
        "/reports/progress.docx?level=item",
        "/reports/notice.docx?level=item",
        "/reports/lists.xlsx?level=item",
        "/reports/lists.docx?level=item",
    ):
        assert url in html


@pytest.mark.skipif(
    not (shutil.which("soffice") and shutil.which("pdftotext")),
    reason="LibreOffice (soffice) and poppler's pdftotext are not installed here: "
    "apt-get install libreoffice-writer-nogui poppler-utils",
)
def test_libreoffice_converts_the_report_with_its_figures(demo, tmp_path):
    response = client_of(demo["supervisor"]).get(
        "/reports/progress.docx", {"inspection": code("YS2023")}
    )
    source = tmp_path / "report.docx"
    source.write_bytes(b"".join(response.streaming_content))
    profile = tmp_path / "profile"
    soffice = shutil.which("soffice") or "soffice"
    command = [soffice, f"-env:UserInstallation=file://{profile}", "--headless"]
    convert = ["--convert-to", "pdf", "--outdir", str(tmp_path), str(source)]
    subprocess.run([*command, *convert], check=True, capture_output=True, timeout=180)  # noqa: S603
    pdf = tmp_path / "report.pdf"
    pdfinfo = shutil.which("pdfinfo") or "pdfinfo"
    info = subprocess.run([pdfinfo, str(pdf)], check=True, capture_output=True, text=True)  # noqa: S603
    pages = int(next(line for line in info.stdout.splitlines() if line.startswith("Pages:"))[6:])
    assert pages >= 2  # the text, and the attachment's table
    pdftotext = shutil.which("pdftotext") or "pdftotext"
    read = subprocess.run([pdftotext, str(pdf), "-"], check=True, capture_output=True, text=True)  # noqa: S603
    text = read.stdout
    compact = "".join(text.split())
    assert "其余56项" in compact and "263项" in compact
    assert "—1—" in compact
