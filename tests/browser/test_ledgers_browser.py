"""In a real browser: the export follows the filters the list applied through htmx and
downloads a valid workbook; an import goes from upload to preview to done."""

from __future__ import annotations

import re

import pytest
from openpyxl import load_workbook

from cases.models import Case
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, days
from tests.ledgers.helpers import codes, worker_reads, xlsx

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_it_downloads_the_ledger_of_the_filtered_list(world, new_page, tmp_path):
    overdue = world.case(world.unit_a, title="消防通道逾期", deadline=days(-3))
    world.case(world.unit_b, title="耕地保护", deadline=days(40))
    page = new_page()
    log_in(page, "supervisor", PASSWORD)
    page.goto("/cases/")
    page.click("summary")  # 更多筛选条件
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        page.select_option("select[name=light]", "red")
    page.wait_for_url("**light=red**")  # htmx pushed the filters; the page did not reload
    with page.expect_download() as download:
        page.get_by_role("button", name="导出台账").click()
    path = tmp_path / "ledger.xlsx"
    download.value.save_as(path)
    assert download.value.suggested_filename.endswith(".xlsx")
    workbook = load_workbook(path)
    assert workbook.worksheets[0]["A1"].value.startswith("晋城市整改台账（截至")
    assert codes(workbook) == [overdue.code]


def test_it_imports_an_upload_after_its_preview(world, new_page, tmp_path):
    path = tmp_path / "台账.xlsx"
    path.write_bytes(
        xlsx(
            [
                {
                    "问题编号": "B-1",
                    "所属检查": world.inspection.name,
                    "问题标题": "新登记的问题",
                    "责任单位": "甲县局",
                    "整改时限": "2024-06-30",
                }
            ]
        )
    )
    page = new_page(width=375, height=812)
    log_in(page, "supervisor", PASSWORD)
    page.goto("/ledgers/import/")
    page.set_input_files("input[type=file]", str(path))
    page.get_by_role("button", name="上传并预览").click()
    page.wait_for_url(re.compile(r"/ledgers/imports/\d+/"))
    worker_reads()  # the worker reads the upload; the request only stored it
    page.reload()
    page.get_by_text("将要导入的变化").wait_for()
    assert not Case.objects.filter(code="B-1").exists()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.get_by_role("button", name="确认导入（1 个问题）").click()
    page.get_by_text("导入完成：新增 1 个问题").wait_for()
    assert Case.objects.get(code="B-1").title == "新登记的问题"
