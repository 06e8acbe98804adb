"""人员管理 on a phone (390x844): a unit administrator adds a colleague by typing the unit in
the picker, hands over the set-password link, which the colleague opens to choose a password
and log in; then moves, deactivates and resets people, and adds and removes a group bot. No
page scrolls sideways, and no script error or CSP violation on the way."""

from __future__ import annotations

import pytest

from cases.models import User
from cases.workflow import Role
from reminders.models import UnitWebhook
from tests.browser.conftest import log_in, pick
from tests.factories import PASSWORD, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
NEW_PASSWORD = "a-brand-new-passphrase-42"


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a phone"


def _pick_unit(page, text: str) -> None:
    pick(page, "id_unit", text)
    page.locator("h1").click()  # closes the dropdown, which would cover the buttons below


def test_a_unit_admin_manages_people_and_bots_on_a_phone(world, new_page):
    make_user(world.unit_a, Role.UNIT_ADMIN, "admin_a", full_name="甲管理员")
    page = new_page(**PHONE)
    problems: list[str] = []

    def console(message) -> None:
        # The browser's own favicon request is no page's.
        if message.type == "error" and "favicon.ico" not in message.location.get("url", ""):
            problems.append(f"{message.text} {message.location}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    log_in(page, "admin_a", PASSWORD)
    page.click("nav >> text=人员管理")
    page.wait_for_url("**/people/")
    assert page.locator("text=inspector_b").count() == 0  # another county's
    page.locator("td.code", has_text="inspector_a_child").wait_for()
    _fits(page)

    # Add a colleague in the sub-unit, picked by typing.
    page.click("main >> text=新增人员")
    page.fill("#id_username", "zhang_wei")
    page.fill("#id_full_name", "张伟")
    _pick_unit(page, "股室")
    page.select_option("#id_role", "inspector")
    _fits(page)
    page.click("main button[type=submit]")
    link = page.input_value("#set-password-link")
    _fits(page)
    person = User.objects.get(username="zhang_wei")
    assert (person.unit_id, person.role) == (world.unit_a_child.pk, "inspector")

    # The colleague opens the link on their own phone, chooses a password and logs in.
    theirs = new_page(**PHONE)
    theirs.goto(link)
    theirs.fill("#id_new_password1", NEW_PASSWORD)
    theirs.fill("#id_new_password2", NEW_PASSWORD)
    theirs.click("main button[type=submit]")
    theirs.get_by_text("您的密码已设置").wait_for()
    log_in(theirs, "zhang_wei", NEW_PASSWORD)
    theirs.get_by_text("我的整改任务").first.wait_for()

    # Back to the admin: move inspector_a to the sub-unit, then deactivate them.
    page.goto("/people/?q=inspector_a")
    page.click(f"a[href='/people/{world.inspector_a.pk}/']")
    _pick_unit(page, "股室")
    page.click("form:has(input[name=action][value=save]) button[type=submit]")
    page.get_by_text("已保存").wait_for()
    world.inspector_a.refresh_from_db()
    assert world.inspector_a.unit_id == world.unit_a_child.pk
    page.click("button[value=deactivate]")
    page.get_by_text("账户已停用").first.wait_for()
    _fits(page)
    world.inspector_a.refresh_from_db()
    assert not world.inspector_a.is_active

    # Reset the new colleague's password: the link is shown once.
    page.goto(f"/people/{person.pk}/password/")
    _fits(page)
    page.click("main button[type=submit]")
    assert "/accounts/reset/" in page.input_value("#set-password-link")
    person.refresh_from_db()
    assert not person.has_usable_password()

    # A group bot for the unit, then removed.
    page.goto("/people/bots/")
    page.get_by_text("还没有群机器人").wait_for()
    page.click("main >> text=新增群机器人")
    _pick_unit(page, "甲县局")
    page.fill("#id_url", "https://1.1.1.1/cgi-bin/webhook/send?key=abc")
    page.click("button[value=save]")
    page.locator("td", has_text="甲县局").first.wait_for()
    _fits(page)
    bot = UnitWebhook.objects.get()
    page.goto(f"/people/bots/{bot.pk}/")
    _fits(page)
    page.click("button[value=delete]")
    page.get_by_text("群机器人已删除").wait_for()
    assert not UnitWebhook.objects.exists()
    assert problems == []


def test_an_inspector_is_refused_the_people_pages(world, new_page):
    page = new_page(**PHONE)
    log_in(page, "inspector_a", PASSWORD)
    assert page.locator("nav >> text=人员管理").count() == 0
    assert page.goto("/people/").status == 403
