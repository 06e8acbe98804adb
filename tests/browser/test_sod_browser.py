"""Separation of duties and the evidence rule in a real browser (cases.rules): the submitter is
told why they cannot close and is not offered the move; a bulk close closes what it may and
names the rest; a verifier writes a note per point where the inspection requires it."""

from __future__ import annotations

import pytest

from cases import services
from cases.models import Case, Inspection
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, PDF, add_evidence, drive_to, make_inspection, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SOD = "提交销号申请的人员及责任单位人员不能验收销号本问题。"
SUBMIT = "form[action$='/transition/'] button[type=submit]"


@pytest.mark.parametrize("width", [1280, 375])
def test_the_submitter_is_told_why_and_not_offered_the_close(world, new_page, tmp_path, width):
    make_user(world.county_a, "supervisor", "county_gov")
    case = world.case(world.unit_a, title="县政府督办的问题")
    evidence = tmp_path / "整改报告.pdf"
    evidence.write_bytes(PDF)
    page = new_page(width=width, height=900)
    log_in(page, "county_gov", PASSWORD)
    page.goto(f"/cases/{case.pk}/")
    page.check("input[name=to][value=in_progress]")
    page.click(SUBMIT)
    page.locator("#timeline").get_by_text("待整改 → 整改中").wait_for()
    page.check("input[name=to][value=submitted]")
    page.fill("textarea[name=note]", "已整改完毕。")
    page.click(SUBMIT)
    page.locator("#timeline").get_by_text("整改中 → 待验收").wait_for()

    page.get_by_text(SOD).wait_for()
    assert page.locator("input[name=to][value=completed]").count() == 0
    assert page.locator("input[name=to][value=in_progress]").count() == 1
    if width == 375:
        assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # Another supervisor verifies and closes it.
    other = new_page(width=width, height=900)
    log_in(other, "supervisor", PASSWORD)
    other.goto(f"/cases/{case.pk}/")
    assert other.get_by_text(SOD).count() == 0
    other.check("input[name=to][value=completed]")
    other.click(SUBMIT)
    other.locator("#timeline").get_by_text("待验收 → 已销号").wait_for()
    assert Case.objects.get(pk=case.pk).status == "completed"


def test_a_bulk_close_closes_the_allowed_and_names_the_refused(world, new_page):
    county_gov = make_user(world.county_a, "supervisor", "county_gov")
    allowed = drive_to(world.case(world.unit_a, title="联络员申请的问题"), "submitted", county_gov)
    own = world.case(world.unit_a, title="本人申请的问题")
    services.case_transition(actor=county_gov, case_id=own.pk, to="in_progress")
    services.case_transition(actor=county_gov, case_id=own.pk, to="submitted", note="申请")
    page = new_page()
    log_in(page, "county_gov", PASSWORD)
    page.goto("/cases/?status=submitted")
    page.check(f"input[name=cases][value='{allowed.pk}']")
    page.check(f"input[name=cases][value='{own.pk}']")
    page.select_option("select[name=action]", "close")
    page.fill("input[name=note]", "批量验收")
    page.click("#bulk-form fieldset.bulk button[type=submit]")
    page.get_by_text("已验收销号 1 个问题。").wait_for()
    page.get_by_text(f"{own.code} 未销号：{SOD}").wait_for()
    assert Case.objects.get(pk=allowed.pk).status == "completed"
    assert Case.objects.get(pk=own.pk).status == "submitted"


def test_a_verifier_writes_a_note_per_point_where_the_inspection_requires_it(world, new_page):
    strict = make_inspection(world.commission, code="T2023-E")
    Inspection.objects.filter(pk=strict.pk).update(requires_evidence=True)
    case = world.case(world.unit_a, inspection=strict, title="须附佐证的问题",
                      checklist=["窗口是否真正运行", "办事指南是否公示"])  # fmt: skip
    drive_to(case, "in_progress", world.supervisor)
    add_evidence(world.inspector_a, case)  # the rule: evidence before the submission
    services.case_transition(actor=world.inspector_a, case_id=case.pk, to="submitted", note="报")
    page = new_page(width=375, height=812)
    log_in(page, "supervisor", PASSWORD)
    page.goto(f"/cases/{case.pk}/")
    page.check("input[name=to][value=completed]")
    for box in page.locator("input[name=confirm]").all():
        box.check()
    first, second = case.checklist.all()
    page.fill(f"input[name=point_note_{first.pk}]", "窗口已实际运行")
    page.click(SUBMIT)
    page.get_by_text("该检查要求逐条填写验收说明，尚未填写：办事指南是否公示").wait_for()
    assert Case.objects.get(pk=case.pk).status == "submitted"
    page.check("input[name=to][value=completed]")
    for box in page.locator("input[name=confirm]").all():
        box.check()
    page.fill(f"input[name=point_note_{first.pk}]", "窗口已实际运行")
    page.fill(f"input[name=point_note_{second.pk}]", "指南已在大厅公示")
    page.click(SUBMIT)
    page.locator("#timeline").get_by_text("待验收 → 已销号").wait_for()
    page.get_by_text("指南已在大厅公示").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
