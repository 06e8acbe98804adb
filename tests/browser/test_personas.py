"""Every persona of the demo does a day's work in the pages only (never /admin/, never the API),
on a phone (390x844), the supervisor also at desktop width.

The demo is built once for the module with the project's own loader (`load_demo`, about a
minute) and committed so the live server sees it; the tests run in file order on the same demo
(each picks its own cases), and the module's end empties the database for the next module.
Every step asserts what the user sees (flash messages, status labels, counts); no page scrolls
sideways on a phone and no page logs a script error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from cases.demo import DEMO_PASSWORD, load_demo
from cases.models import Case, CaseEvent, ExtensionRequest, Inspection, User
from cases.workflow import Status
from reminders.services import deliver
from tests.browser.conftest import log_in, pick
from tests.factories import PDF

pytestmark = [pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(autouse=True)
def _live_server_helper(request) -> Iterator[None]:
    """pytest-django's helper, without the per-test flush of `transactional_db`: the demo is
    built once for the module (below) and would otherwise be emptied after the first test."""
    if "live_server" not in request.fixturenames:
        yield
        return
    live_server = request.getfixturevalue("live_server")
    live_server._live_server_modified_settings.enable()
    yield
    live_server._live_server_modified_settings.disable()


@pytest.fixture(scope="module")
def _demo_module(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[None]:
    evidence_root = tmp_path_factory.mktemp("evidence")
    with django_db_blocker.unblock(), override_settings(EVIDENCE_ROOT=evidence_root):
        load_demo()  # committed: the live server's thread reads it on its own connection
        try:
            yield
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def demo(_demo_module, django_db_blocker, live_server) -> Iterator[dict[str, User]]:
    with django_db_blocker.unblock():
        yield {u.username: u for u in User.objects.all()}


class Watch:
    """Script errors and CSP violations of every page a persona opens."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def attach(self, page) -> None:
        def console(message) -> None:
            if message.type == "error" and "favicon.ico" not in message.location.get("url", ""):
                self.problems.append(f"{message.text} {message.location}")

        page.on("console", console)
        page.on("pageerror", lambda error: self.problems.append(str(error)))


def _open(new_page, watch: Watch, username: str, size: dict[str, int] = PHONE):
    page = new_page(**size)
    watch.attach(page)
    log_in(page, username, DEMO_PASSWORD)
    return page


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{page.url} is {width}px wide in a {inner}px window"


def _move(page, to: str, note: str = "") -> None:
    page.check(f"input[name=to][value={to}]")
    if note:
        page.fill("#id_note", note)
    page.click("form[action$='/transition/'] button[type=submit]")


def _status(page, status: Status) -> None:
    page.locator(f"#case-body .status-{status.value}", has_text=str(status.label)).first.wait_for()


def _lc_case(demo, *statuses: str, exclude: tuple[int, ...] = ()) -> Case:
    today = timezone.localdate()
    cases = (
        Case.objects.filter(responsible_unit=demo["inspector_lc"].unit, status__in=statuses)
        .exclude(pk__in=exclude)
        .order_by("deadline", "pk")
    )
    case = cases.filter(deadline__lt=today).first() or cases.first()
    assert case is not None, f"the demo has no {statuses} case of 陵川 left"
    return case


def test_inspector_lc_works_a_red_case_on_a_phone(demo, new_page):
    watch = Watch()
    page = _open(new_page, watch, "inspector_lc")

    # 我的整改任务: only the unit's cases.
    page.goto("/cases/")
    _fits(page)
    other = Case.objects.filter(responsible_unit=demo["inspector_gp"].unit).first()
    assert other is not None
    mine = _lc_case(demo, Status.OPEN, Status.IN_PROGRESS)
    page.goto(f"/cases/?q={mine.title[:12]}")
    page.locator("main a", has_text=mine.title[:12]).first.wait_for()
    page.goto(f"/cases/?q={other.title[:12]}")
    assert page.locator("main a", has_text=other.title).count() == 0
    assert page.request.get(f"/cases/{other.pk}/").status == 404  # not a console error

    # Open the red (overdue) case and start it.
    page.goto(f"/cases/{mine.pk}/")
    _fits(page)
    if mine.status == Status.OPEN:
        _move(page, Status.IN_PROGRESS)
        _status(page, Status.IN_PROGRESS)

    # Measures and progress.
    page.fill("#id_measures", "逐项对照整改，专人负责。")
    page.fill("#id_progress", "已完成现场核查，正在补齐材料。")
    page.click("form[action$='/rectification/'] button[type=submit]")
    page.get_by_text("已完成现场核查，正在补齐材料。").first.wait_for()

    # An evidence file.
    page.set_input_files(
        "form[action$='/evidence/'] input[name=evidence]",
        {"name": "现场核查.pdf", "mimeType": "application/pdf", "buffer": PDF},
    )
    page.fill("#id_evidence_note", "现场核查记录")
    page.click("form[action$='/evidence/'] button[type=submit]")
    page.locator("#case-body", has_text="现场核查.pdf").wait_for()
    _fits(page)

    # 延期申请 with a reason and a date.
    form = page.locator("form[action$='/extension-requests/']")
    form.locator("input[name=deadline]").fill(
        (timezone.localdate() + timedelta(days=45)).isoformat()
    )
    form.locator("textarea[name=reason]").fill("需等待上级审批窗口编制。")
    form.locator("button[type=submit]").click()
    page.get_by_text("等待监督单位审批。", exact=True).wait_for()
    assert ExtensionRequest.objects.filter(case=mine, status="pending").count() == 1

    # 申请销号 with a note.
    _move(page, Status.SUBMITTED, "整改已完成，请验收。")
    _status(page, Status.SUBMITTED)
    _fits(page)

    # Notifications.
    page.goto("/notifications/")
    page.locator("h1").wait_for()
    _fits(page)
    assert watch.problems == []


def _submit_as_unit(page, case: Case) -> None:
    """inspector_lc takes `case` to 待验收 in the pages: start, evidence, 申请销号."""
    page.goto(f"/cases/{case.pk}/")
    if case.status == Status.OPEN:
        _move(page, Status.IN_PROGRESS)
        _status(page, Status.IN_PROGRESS)
    page.set_input_files(
        "form[action$='/evidence/'] input[name=evidence]",
        {"name": "整改报告.pdf", "mimeType": "application/pdf", "buffer": PDF},
    )
    page.click("form[action$='/evidence/'] button[type=submit]")
    page.locator("#case-body", has_text="整改报告.pdf").wait_for()
    _move(page, Status.SUBMITTED, "已整改到位，申请销号。")
    _status(page, Status.SUBMITTED)


def test_supervisor_verifies_returns_decides_and_follows_up_on_a_phone(demo, new_page):
    watch = Watch()
    unit = _open(new_page, watch, "inspector_lc")
    submitted = Case.objects.filter(status=Status.SUBMITTED).exclude(inspection__restricted=True)
    while submitted.count() < 2:  # one to close, one to return
        _submit_as_unit(unit, _lc_case(demo, Status.OPEN, Status.IN_PROGRESS))
    page = _open(new_page, watch, "supervisor")

    # The top bar's 待办 count, the inbox's 待我验收.
    badge = page.locator("a.inbox [data-waiting]")
    assert int(badge.inner_text()) >= 2
    page.click("a.inbox")
    page.wait_for_url("**/inbox/**")
    _fits(page)
    assert int(page.locator("#tab-to_verify .count").inner_text()) >= 2
    # The unit's 延期申请 (the inspector's walk asked for one), decided from the inbox.
    pending = ExtensionRequest.objects.filter(status="pending").select_related("case").first()
    assert pending is not None, "no 延期申请 waits (test_inspector_lc_... asks for one)"
    page.goto("/inbox/?tab=extension_requests")
    page.locator("#inbox-rows").get_by_text(pending.case.title[:12]).first.click()
    page.wait_for_url(f"**/cases/{pending.case_id}/**")
    page.fill("#id_decision_note", "同意，请抓紧推进。")
    page.click("button[name=approve][value='1']")
    page.get_by_text("已同意延期，整改时限已调整。").wait_for()

    case, other = submitted.order_by("-updated_at")[:2]
    page.goto("/inbox/")
    page.locator("#inbox-rows").get_by_text(case.title[:12]).first.click()
    page.wait_for_url(f"**/cases/{case.pk}/**")
    _fits(page)

    # Confirm every point (with a note) and close it: 验收销号.
    page.check("input[name=to][value=completed]")
    for box in page.locator("input[name=confirm]").all():
        box.check()
    for note in page.locator("form[action$='/transition/'] input[type=text]").all():
        note.fill("已现场核验。")
    _move(page, Status.COMPLETED, "验收合格，予以销号。")
    _status(page, Status.COMPLETED)

    # Return another: 退回整改 with a note.
    page.goto(f"/cases/{other.pk}/")
    _move(page, Status.IN_PROGRESS, "佐证材料不全，请补充后再报。")
    _status(page, Status.IN_PROGRESS)
    _fits(page)

    # A follow-up (督办) the unit answers; the supervisor sees who read it and the reply.
    target = _lc_case(demo, Status.OPEN, Status.IN_PROGRESS)
    page.goto(f"/cases/{target.pk}/")
    page.click("summary:has-text('督办')")
    page.fill("#id_follow_note", "请于本周内报送进展。")
    page.click("form[action$='/follow-up/'] button[type=submit]")
    page.locator("#follow-ups").get_by_text("请于本周内报送进展。").first.wait_for()
    deliver()  # what the Celery worker does after the commit (no worker in the tests)
    unit.goto("/notifications/")  # the 督办 came to the unit: read, then answered
    unit.locator("main", has_text=target.title[:12]).first.wait_for()
    unit.click("form[action$='/read-all/'] button[type=submit]")
    unit.get_by_text("条通知标为已读").first.wait_for()
    _fits(unit)
    unit.goto(f"/cases/{target.pk}/")
    entry = unit.locator("#follow-ups li", has_text="请于本周内报送进展。").first
    entry.locator("summary:has-text('回复督办')").click()
    entry.locator("textarea[name=note]").fill("已安排专人推进，周五前报送。")
    entry.locator("button[type=submit]").click()
    unit.get_by_text("已回复督办。").first.wait_for()
    _fits(unit)
    page.reload()
    page.locator("#follow-ups").get_by_text("已安排专人推进，周五前报送。").wait_for()
    thread = page.locator("#follow-ups li.event", has_text="请于本周内报送进展。").first
    thread.locator(".readers li", has_text="杨海忠").get_by_text("已读").wait_for()
    thread.locator(".replies li", has_text="杨海忠").wait_for()

    # 延期: the supervisor moves a deadline.
    new_deadline = timezone.localdate() + timedelta(days=60)
    page.click("summary:has-text('调整整改时限')")
    page.fill("#id_deadline", new_deadline.isoformat())
    page.fill("#id_reason", "需省级部门会商。")
    page.click("form[action$='/deadline/'] button[type=submit]")
    page.locator("#case-body", has_text=new_deadline.isoformat()).first.wait_for()

    # 纳入负面清单/不予整改 on an open case.
    exempt = (
        Case.objects.filter(
            responsible_unit=demo["inspector_gp"].unit, status__in=[Status.OPEN, Status.IN_PROGRESS]
        )
        .order_by("pk")
        .first()
    )
    assert exempt is not None
    page.goto(f"/cases/{exempt.pk}/")
    _move(page, Status.EXEMPTED, "经研究，纳入负面清单。")
    _status(page, Status.EXEMPTED)

    # The unit's notifications, read earlier, keep the 督办.
    deliver()
    unit.goto("/notifications/")
    unit.locator("main", has_text=target.title[:12]).first.wait_for()
    _fits(unit)
    assert watch.problems == []


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_supervisor_registers_feedback_and_reads_figures(demo, new_page, size):
    watch = Watch()
    page = _open(new_page, watch, "supervisor", size)
    tag = size["width"]

    # The dashboard: the red figure drills down to a list that counts the same.
    page.goto("/dashboard/")
    _fits(page)
    red = page.locator(".kpi.light-box-red a").first
    count = red.inner_text().strip()
    red.click()
    page.wait_for_url("**/cases/?**")
    page.locator(".summary", has_text=f"共 {count} 个问题").wait_for()

    # 立项登记: an inspection, a problem with its items, two rows pasted from Excel.
    page.click("nav a:has-text('立项登记')")
    page.wait_for_url("**/inspections/")
    page.click("main a:has-text('登记检查')")
    page.fill("#id_name", f"2024年营商环境专项检查（{tag}）")
    page.fill("#id_code", f"YS2024-{tag}")
    pick(page, "id_inspected_units", "高平市政务", "高平市政务服务中心")
    page.fill("#id_round", "第一轮")
    page.fill("#id_feedback_date", "2024-05-10")
    page.fill("#id_rectification_deadline", "2030-11-10")
    _fits(page)
    page.click("main form button[type=submit]")
    page.get_by_text("检查已登记").wait_for()
    inspection = Inspection.objects.get(code=f"YS2024-{tag}")
    page.goto(f"/inspections/{inspection.pk}/problems/new/")
    page.fill("#id_problem-title", f"窗口授权不到位（{tag}）")
    pick(page, "id_problem-responsible_unit", "高平市政务", "高平市政务服务中心")
    page.fill("#id_problem-checklist", "授权清单是否公示")
    for index in range(3):
        page.fill(f"#id_items-{index}-title", f"事项{index + 1}")
    _fits(page)
    page.click("main form button[type=submit]:has-text('登记')")
    page.get_by_text("已登记问题").wait_for()
    page.goto(f"/inspections/{inspection.pk}/paste/")
    rows = [
        "问题编号\t问题标题\t责任单位\t整改时限",
        f"P{tag}-1\t粘贴一\t高平市政务服务中心\t2030-06-30",
        f"P{tag}-2\t粘贴二\t高平市政务服务中心\t2030-07-31",
    ]
    page.fill("#id_text", "\n".join(rows))
    page.click("button[name=preview]")
    page.click("button[name=confirm]")
    page.get_by_text("已导入 2 行").wait_for()
    _fits(page)
    assert Case.objects.filter(inspection=inspection, code__startswith=f"P{tag}-").count() == 2
    assert watch.problems == []


def test_unitadmin_gp_manages_people_on_a_phone(demo, new_page):
    watch = Watch()
    page = _open(new_page, watch, "unitadmin_gp")
    page.click("nav >> text=人员管理")
    page.wait_for_url("**/people/")
    _fits(page)
    assert page.locator("td.code", has_text="inspector_lc").count() == 0  # another county's

    page.click("main >> text=新增人员")
    page.fill("#id_username", "li_na")
    page.fill("#id_full_name", "李娜")
    pick(page, "id_unit", "高平市政务", "高平市政务服务中心")
    page.locator("h1").click()
    page.select_option("#id_role", "inspector")
    page.click("main button[type=submit]")
    assert "/accounts/reset/" in page.input_value("#set-password-link")
    _fits(page)
    person = User.objects.get(username="li_na")
    assert person.unit_id == demo["unitadmin_gp"].unit_id

    page.goto(f"/people/{person.pk}/password/")
    page.click("main button[type=submit]")
    assert "/accounts/reset/" in page.input_value("#set-password-link")

    page.goto(f"/people/{demo['inspector_gp'].pk}/")
    page.click("button[value=deactivate]")
    page.get_by_text("账户已停用").first.wait_for()
    assert not User.objects.get(username="inspector_gp").is_active

    page.goto("/people/bots/")
    page.click("main >> text=新增群机器人")
    pick(page, "id_unit", "高平市政务", "高平市政务服务中心")
    page.locator("h1").click()
    page.fill("#id_url", "https://1.1.1.1/cgi-bin/webhook/send?key=gp")
    page.click("button[value=save]")
    # Saved (back on the list, with the message), or refused: then say why. On a loaded CI
    # machine this round trip once took over the default 10 s; if nothing comes, say where the
    # page is and what it shows.
    try:
        page.locator(".messages .success, [role=alert]").first.wait_for(timeout=30_000)
    except PlaywrightTimeout:
        raise AssertionError(
            f"no answer at {page.url}: {page.locator('main').inner_text()}"
        ) from None
    assert page.locator("[role=alert]").count() == 0, page.locator("main").inner_text()
    page.locator("td", has_text="高平市政务服务中心").first.wait_for()
    _fits(page)
    assert watch.problems == []


def test_only_the_superuser_reaches_admin(demo, new_page):
    watch = Watch()
    page = _open(new_page, watch, "admin")
    page.goto("/admin/")
    page.locator("#site-name, #content h1").first.wait_for()
    assert "/admin/login/" not in page.url
    for username in ("supervisor", "unitadmin_gp", "inspector_lc"):
        other = _open(new_page, watch, username)
        other.goto("/admin/")
        assert "/admin/login/" in other.url, f"{username} reached the admin"
    # Nothing of the personas' daily work touched /admin/: every event has a page author.
    assert not CaseEvent.objects.filter(actor=demo["admin"]).exists()
