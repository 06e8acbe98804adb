"""立项登记 in a real browser, at phone width and on a desktop: a supervisor registers an
inspection with its inspected units, a problem with four items (one row added in the page),
checklist points on the case page, and rows pasted from Excel (a bad row shown in place,
then fixed). No script error on the way, and no page wider than the screen."""

from __future__ import annotations

import pytest

from cases.models import Case, Inspection
from tests.browser.conftest import log_in, pick
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SIZES = {"phone": (390, 844), "desktop": (1280, 900)}


def fits(page, width: int) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= width + 1


@pytest.mark.parametrize("size", list(SIZES))
def test_a_supervisor_registers_the_feedback_in_the_pages(world, new_page, size):
    width, height = SIZES[size]
    page = new_page(width=width, height=height)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    log_in(page, "supervisor", PASSWORD)

    # The inspection, from the top bar's link.
    page.click("nav a:has-text('立项登记')")
    page.wait_for_url("**/inspections/")
    page.click("main a:has-text('登记检查')")
    page.fill("#id_name", "2024年安全生产政治监督专项检查")
    page.fill("#id_code", "AQ2024")
    pick(page, "id_inspected_units", "甲县", "甲县局")
    pick(page, "id_inspected_units", "乙县", "乙县局")
    page.fill("#id_round", "第一轮")
    page.fill("#id_feedback_date", "2024-05-10")
    page.fill("#id_rectification_deadline", "2030-11-10")
    assert fits(page, width)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/inspections/")
    page.get_by_text("检查已登记").wait_for()
    inspection = Inspection.objects.get(code="AQ2024")
    assert {u.name for u in inspection.inspected_units.all()} == {"甲县局", "乙县局"}
    assert fits(page, width)

    # A problem with four items: three rows on the page, one added.
    page.goto(f"/inspections/{inspection.pk}/problems/new/")
    page.fill("#id_problem-title", "事故隐患排查不到位")
    pick(page, "id_problem-responsible_unit", "甲县", "甲县局")
    page.fill("#id_problem-checklist", "隐患是否整改到位\n台账是否建立")
    page.click("button:has-text('再加一个事项')")
    for index in range(4):
        page.fill(f"#id_items-{index}-title", f"事项{index + 1}")
    pick(page, "id_items-3-responsible_unit", "乙县", "乙县局")
    page.fill("#id_items-3-checklist", "复查记录")
    assert fits(page, width)
    page.click("main form button[type=submit]:has-text('登记')")
    page.get_by_text("已登记问题").wait_for()
    problem = Case.objects.get(title="事故隐患排查不到位")
    assert problem.items_total == 4 and problem.deadline.isoformat() == "2030-11-10"
    assert problem.items.get(title="事项4").responsible_unit.name == "乙县局"

    # A checklist point added and reworded on the case page.
    page.fill("#id_checkpoint_text", "现场是否复查")
    page.click("button:has-text('添加验收要点')")
    page.get_by_text("验收要点已添加").wait_for()
    point = problem.checklist.get(text="现场是否复查")
    page.locator(".checklist li", has_text="现场是否复查").locator("summary").click()
    page.fill(f"#point-{point.pk}-text", "现场是否逐项复查")
    page.locator(f"form[action$='/checklist/{point.pk}/'] button").click()
    page.get_by_text("验收要点已修改").wait_for()
    page.locator(".timeline").get_by_text("现场是否复查 → 现场是否逐项复查").wait_for()
    assert fits(page, width)

    # Rows pasted from Excel: a bad one shown in place, nothing stored; fixed, all stored.
    page.goto(f"/inspections/{inspection.pk}/paste/")
    header = "问题编号\t问题标题\t责任单位\t整改时限"
    rows = ["AQ-1\t粘贴一\t甲县局\t2030-06-30", "AQ-2\t粘贴二\t甲县局\t2030-02-30"]
    page.fill("#id_text", "\n".join([header, *rows]))
    page.click("button[name=preview]")
    page.locator("#paste-row-3").wait_for()
    assert "has-error" in (page.locator("#paste-row-3").get_attribute("class") or "")
    page.get_by_text("第 3 行 · 整改时限：整改时限“2030-02-30”不是有效日期").wait_for()
    assert page.locator("button[name=confirm]").count() == 0
    assert not Case.objects.filter(code__startswith="AQ-").exists()
    page.fill("#id_text", "\n".join([header, rows[0], rows[1].replace("02-30", "02-28")]))
    page.click("button[name=preview]")
    page.click("button[name=confirm]")
    page.get_by_text("已导入 2 行").wait_for()
    assert Case.objects.filter(code__startswith="AQ-", inspection=inspection).count() == 2
    assert fits(page, width)
    assert problems == []
