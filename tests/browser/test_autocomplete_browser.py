"""The unit and owner pickers in a real browser: type two characters, pick from the server's
answer, save; and no Content-Security-Policy violation on the way."""

from __future__ import annotations

import pytest

from tests.browser.conftest import log_in, pick
from tests.factories import PASSWORD, make_unit, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_supervisor_reassigns_a_case_by_typing_in_the_pickers(world, new_page):
    case = world.case(world.unit_a, title="窗口服务不规范")
    # More units than the page carries without JavaScript: the target is not among them.
    for n in range(120):
        make_unit(f"便民服务站{n:03}", parent=world.unit_b)
    target = make_unit("乙县政务服务中心", parent=world.county_b)
    owner = make_user(target, "inspector", "zhang_wei", full_name="张伟")
    make_user(world.unit_a, "inspector", "zhang_san", full_name="张三")  # of another unit

    page = new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    log_in(page, "supervisor", PASSWORD)
    page.goto(f"/cases/{case.pk}/")
    problems.clear()  # from here on: the pickers' scripts, styles and requests
    assert page.locator("select[name=responsible_unit] option").count() <= 2  # chosen + empty
    page.click("summary:has-text('调整责任单位或责任人')")

    # Picked from the server's answer to the whole term (tests.browser.conftest.pick says why):
    # the parent tells namesakes apart; only the chosen unit's people are offered (not 张三 of
    # 甲县局).
    pick(page, "id_responsible_unit", "政务", "乙县政务服务中心", detail="乙县")
    pick(page, "id_owner", "张", "张伟", absent="张三")
    # No script error, failed request or CSP violation while picking. (After the htmx swap
    # below Chromium reports CSP refusals of the empty style="" its autofill leaves on every
    # text input, which htmx copies over: not the pickers', so not checked there.)
    assert problems == []

    page.click("form[action$='/assign/'] button[type=submit]")
    page.get_by_text("责任单位和责任人已调整").wait_for()
    case.refresh_from_db()
    assert (case.responsible_unit_id, case.owner_id) == (target.pk, owner.pk)


def test_the_list_filter_picks_a_unit_from_the_server(world, new_page):
    world.case(world.unit_a, title="甲县的问题")
    world.case(world.unit_b, title="乙县的问题")
    page = new_page()
    log_in(page, "supervisor", PASSWORD)
    page.goto("/cases/")
    page.click("summary:has-text('更多筛选条件')")
    page.click(".filters .ts-wrapper .ts-control")
    page.keyboard.type("乙县", delay=50)
    page.locator(".ts-dropdown .option", has_text="乙县局").click()
    page.wait_for_url(f"**responsible_unit={world.unit_b.pk}**")
    results = page.locator("#case-results")
    results.get_by_text("乙县的问题").wait_for()
    assert results.get_by_text("甲县的问题").count() == 0
