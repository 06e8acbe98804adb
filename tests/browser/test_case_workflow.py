"""People at work in a real browser: an inspector rectifies, a supervisor verifies."""

from __future__ import annotations

import pytest

from cases.models import Case
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, PDF, drive_to

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_it_lets_an_inspector_start_and_submit_a_case_with_evidence(world, new_page, tmp_path):
    case = world.case(world.unit_a, title="政务大厅消防通道堵塞")
    evidence = tmp_path / "整改报告.pdf"
    evidence.write_bytes(PDF)

    page = new_page()
    log_in(page, "inspector_a", PASSWORD)
    page.click(f"text={case.title}")
    page.wait_for_url(f"**/cases/{case.pk}/")

    page.check("input[name=to][value=in_progress]")
    page.click("form[action$='/transition/'] button[type=submit]")
    page.locator("#timeline").get_by_text("待整改 → 整改中").wait_for()

    page.check("input[name=to][value=submitted]")
    page.fill("textarea[name=note]", "通道已清理，设置了禁止占用标识。")
    page.set_input_files("form[action$='/transition/'] input[name=evidence]", str(evidence))
    page.click("form[action$='/transition/'] button[type=submit]")

    timeline = page.locator("#timeline")
    timeline.get_by_text("整改中 → 待验收").wait_for()
    assert timeline.get_by_text("通道已清理，设置了禁止占用标识。").is_visible()
    assert timeline.get_by_text("整改报告.pdf").is_visible()
    case.refresh_from_db()
    assert case.status == "submitted"
    assert case.evidence.get().original_name == "整改报告.pdf"


def test_it_lets_a_supervisor_return_one_case_and_close_another(world, new_page):
    to_return = drive_to(
        world.case(world.unit_a, title="待退回的问题"), "submitted", world.supervisor
    )
    to_close = drive_to(
        world.case(
            world.unit_a, title="待销号的问题", checklist=["窗口是否真正运行", "办事指南是否公示"]
        ),
        "submitted",
        world.supervisor,
    )
    page = new_page()
    log_in(page, "supervisor", PASSWORD)

    page.goto(f"/cases/{to_return.pk}/")
    page.check("input[name=to][value=in_progress]")
    page.click("form[action$='/transition/'] button[type=submit]")
    page.get_by_text("须填写说明或理由").first.wait_for()  # refused: a reason is required
    assert Case.objects.get(pk=to_return.pk).status == "submitted"
    page.check("input[name=to][value=in_progress]")
    page.fill("textarea[name=note]", "佐证材料不完整，请补充现场照片。")
    page.click("form[action$='/transition/'] button[type=submit]")
    page.locator("#timeline").get_by_text("待验收 → 整改中").wait_for()
    assert Case.objects.get(pk=to_return.pk).status == "in_progress"

    page.goto(f"/cases/{to_close.pk}/")
    page.check("input[name=to][value=completed]")
    page.check("label:has-text('窗口是否真正运行') input[name=confirm]")
    page.click("form[action$='/transition/'] button[type=submit]")
    page.get_by_text("尚未确认").first.wait_for()  # one point left unconfirmed: refused
    assert Case.objects.get(pk=to_close.pk).status == "submitted"
    page.check("input[name=to][value=completed]")
    for box in page.locator("input[name=confirm]").all():
        box.check()
    page.click("form[action$='/transition/'] button[type=submit]")
    page.locator("#timeline").get_by_text("待验收 → 已销号").wait_for()
    assert Case.objects.get(pk=to_close.pk).status == "completed"


def test_it_answers_404_to_an_inspector_of_another_unit(world, new_page):
    case = world.case(world.unit_a, title="甲县局的问题")
    page = new_page()
    log_in(page, "inspector_b", PASSWORD)
    response = page.goto(f"/cases/{case.pk}/")
    assert response.status == 404
    assert "甲县局的问题" not in page.content()


@pytest.mark.parametrize("persona", ["inspector_a", "supervisor"])
def test_it_fits_a_phone_screen_without_horizontal_scrolling(world, new_page, persona):
    problem = world.case(
        world.unit_a, title="一个标题相当长的整改问题" * 3, checklist=["窗口是否真正运行"]
    )
    for _ in range(3):
        world.case(world.unit_a, parent=problem, title="事项" * 10)
    page = new_page(width=375, height=812)
    log_in(page, persona, PASSWORD)
    for url in ("/cases/", f"/cases/{problem.pk}/"):
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{url} is {width}px wide on a 375px screen"
