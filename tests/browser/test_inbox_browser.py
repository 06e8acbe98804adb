"""On a phone (390×844): the unit asks for an extension on the case page, the supervisor finds
it in the top bar's 待办 and decides it there; the inbox's tabs and empty states."""

from __future__ import annotations

import pytest

from cases.models import Case, ExtensionRequest
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, days, drive_to

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PHONE = {"width": 390, "height": 844}


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width}px"


def test_an_extension_is_asked_for_and_approved_on_a_phone(world, new_page):
    case = drive_to(
        world.case(world.unit_a, title="便民服务窗口未设置", deadline=days(10)),
        "in_progress",
        world.inspector_a,
    )
    unit = new_page(**PHONE)
    log_in(unit, "inspector_a", PASSWORD)
    unit.goto(f"/cases/{case.pk}/")
    form = unit.locator("form[action$='/extension-requests/']")
    form.locator("input[name=deadline]").fill(days(40).isoformat())
    form.locator("textarea[name=reason]").fill("需等待上级审批窗口编制。")
    form.locator("button[type=submit]").click()
    unit.get_by_text("等待监督单位审批。", exact=True).wait_for()
    no_sideways_scroll(unit)
    assert ExtensionRequest.objects.get().status == "pending"

    sup = new_page(**PHONE)
    log_in(sup, "supervisor", PASSWORD)
    badge = sup.locator("a.inbox [data-waiting]")
    assert badge.inner_text() == "1"
    sup.click("a.inbox")
    sup.wait_for_url("**/inbox/**")
    assert sup.locator("#tab-extension_requests .count").inner_text() == "1"
    no_sideways_scroll(sup)
    sup.locator("#inbox-rows").get_by_text(case.title).click()
    sup.wait_for_url(f"**/cases/{case.pk}/**")

    # Refusing needs a note: the form says so and nothing changes.
    sup.click("button[name=approve][value='0']")
    sup.get_by_text("不同意延期须填写审批意见").wait_for()
    assert ExtensionRequest.objects.get().status == "pending"
    sup.fill("#id_decision_note", "同意，请抓紧推进。")
    sup.click("button[name=approve][value='1']")
    sup.get_by_text("已同意延期，整改时限已调整。").wait_for()
    assert sup.locator("#extension-count").inner_text().startswith("1")
    no_sideways_scroll(sup)
    case = Case.objects.get(pk=case.pk)
    assert (case.deadline, case.extensions) == (days(40), 1)

    sup.goto("/inbox/?tab=extension_requests")
    sup.locator("#inbox-empty").wait_for()
    assert sup.locator("a.inbox [data-waiting]").count() == 0


def test_the_inbox_tabs_list_cases_waiting_for_verification(world, new_page):
    submitted = drive_to(world.case(world.unit_a, title="待验收的问题"), "submitted",
                         world.inspector_a)  # fmt: skip
    escalated = drive_to(world.case(world.unit_b, title="待协调的问题"), "escalated",
                         world.inspector_b)  # fmt: skip
    page = new_page(**PHONE)
    log_in(page, "supervisor", PASSWORD)
    page.goto("/inbox/")
    assert page.locator("#tab-to_verify .count").inner_text() == "1"
    page.locator("#inbox-rows").get_by_text(submitted.title).wait_for()
    no_sideways_scroll(page)
    page.click("#tab-escalated")
    page.locator("#inbox-rows").get_by_text(escalated.title).wait_for()
    page.click("#tab-extension_requests")
    page.get_by_text("没有等待您审批的延期申请。").wait_for()
    no_sideways_scroll(page)
