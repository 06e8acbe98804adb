"""立项登记: inspections, a problem with its items, rows pasted from Excel and checklist
points, registered in the pages by supervisors (cases/registry_views.py) and by nobody else."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from cases import checklist, organisation
from cases.errors import Conflict, Forbidden, InvalidInput
from cases.models import Case, CaseEvent, CheckPoint, Inspection
from tests.factories import World, api_key, days, drive_to, make_inspection, make_unit

pytestmark = pytest.mark.django_db


def login(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


def counts() -> tuple[int, ...]:
    return (
        Inspection.objects.count(),
        Case.objects.count(),
        CheckPoint.objects.count(),
        CaseEvent.objects.count(),
    )


def _inspection_form(world: World, **fields: Any) -> dict[str, Any]:
    data = {
        "name": "2024年耕地保护政治监督专项检查",
        "code": "GD2024",
        "kind": "special",
        "year": "2024",
        "supervising_unit": world.commission.pk,
        "inspected_units": [world.unit_a.pk, world.unit_b.pk],
        "round": "第一轮",
        "feedback_date": "2024-05-10",
        "rectification_deadline": "2024-11-10",
        "requires_evidence": "on",
        "max_extensions": "2",
        "working_days": "on",
    }
    data.update(fields)
    return data


# --- Inspections ------------------------------------------------------------------------------


def test_it_creates_an_inspection_with_its_inspected_units(client, world):
    login(client, world.supervisor)
    response = client.post(reverse("cases:inspection-create"), _inspection_form(world))
    assert response.status_code == 302, response.content.decode()[:2000]
    inspection = Inspection.objects.get(code="GD2024")
    assert set(inspection.inspected_units.all()) == {world.unit_a, world.unit_b}
    assert (inspection.round, inspection.feedback_date, inspection.rectification_deadline) == (
        "第一轮", date(2024, 5, 10), date(2024, 11, 10),
    )  # fmt: skip
    assert inspection.requires_evidence and inspection.working_days
    assert inspection.max_extensions == 2
    assert inspection.issuing_unit == world.commission
    entry = AuditEntry.objects.get(action="inspection_create", target_id=str(inspection.pk))
    assert sorted(entry.changes["inspected_units"][1]) == sorted([world.unit_a.pk, world.unit_b.pk])
    # The list shows it, with links to its cases, its registration pages and its edit page.
    page = client.get(reverse("cases:inspections")).content.decode()
    for url in (
        f"{reverse('cases:list')}?inspection={inspection.pk}",
        reverse("cases:problem-create", args=[inspection.pk]),
        reverse("cases:paste", args=[inspection.pk]),
        reverse("cases:inspection-edit", args=[inspection.pk]),
    ):
        assert url in page, url


def test_it_refuses_a_feedback_date_after_the_deadline_and_units_out_of_scope(client, world):
    login(client, world.county_a_supervisor)
    before = counts()
    response = client.post(reverse("cases:inspection-create"), _inspection_form(
        world, supervising_unit=world.county_a.pk, inspected_units=[world.unit_a.pk],
        feedback_date="2024-12-01",
    ))  # fmt: skip
    assert response.status_code == 400
    assert "整改期限不能早于反馈日期。" in response.content.decode()
    # 乙县局 is no unit of 甲县's: the service refuses it (the form's picker never offers it).
    with pytest.raises(InvalidInput) as refused:
        organisation.inspection_create(
            name="x", kind="special", year=2024, issuing_unit=world.county_a,
            inspected_units=[world.unit_b], actor=world.county_a_supervisor,
        )  # fmt: skip
    assert refused.value.fields == {"inspected_units": ["“乙县局”不在您的管辖范围内。"]}
    assert counts() == before


def test_it_edits_an_inspection_through_the_service(client, world):
    login(client, world.supervisor)
    url = reverse("cases:inspection-edit", args=[world.inspection.pk])
    form = client.get(url)
    assert form.status_code == 200
    data = _inspection_form(world, code=world.inspection.code, name="改名后的检查",
                            inspected_units=[world.unit_a.pk])  # fmt: skip
    assert client.post(url, data).status_code == 302
    world.inspection.refresh_from_db()
    assert world.inspection.name == "改名后的检查"
    assert list(world.inspection.inspected_units.all()) == [world.unit_a]
    assert world.inspection.rectification_deadline == date(2024, 11, 10)
    entry = AuditEntry.objects.filter(action="inspection_update").latest("pk")
    assert entry.changes["name"][1] == "改名后的检查"


def test_a_county_commission_cannot_edit_the_city_inspection(client, world):
    world.case(world.unit_a)  # the county now sees the city's inspection
    with pytest.raises(Forbidden):
        organisation.inspection_update(
            inspection=world.inspection, actor=world.county_a_supervisor, name="x"
        )
    login(client, world.county_a_supervisor)
    url = reverse("cases:inspection-edit", args=[world.inspection.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, _inspection_form(world, name="x")).status_code == 403
    assert Inspection.objects.get(pk=world.inspection.pk).name != "x"


def test_the_inspection_list_is_searched_sorted_paged_and_says_when_empty(client, world):
    for number in range(35):
        make_inspection(world.commission, code=f"PG{number:02d}", name=f"分页检查{number:02d}")
    login(client, world.supervisor)
    first = client.get(reverse("cases:inspections"), {"ordering": "code"})
    assert first.status_code == 200
    assert len(first.context["page"].object_list) == 30
    assert first.context["page"].paginator.count == 37
    second = client.get(reverse("cases:inspections"), {"ordering": "code", "page": 2})
    assert len(second.context["page"].object_list) == 7
    found = client.get(reverse("cases:inspections"), {"search": "分页检查07"})
    assert [i.code for i in found.context["page"].object_list] == ["PG07"]
    none = client.get(reverse("cases:inspections"), {"search": "不存在"}).content.decode()
    assert "没有符合条件的检查。" in none
    # The other county's supervisor has nothing yet: the empty state invites a first one.
    login(client, world.dept_supervisor)
    empty = client.get(reverse("cases:inspections")).content.decode()
    assert "您的管辖范围内还没有检查。" in empty


# --- Who may use the pages ----------------------------------------------------------------------


def _registry_urls(world: World, case: Case) -> list[tuple[str, str]]:
    point = case.checklist.first()
    assert point is not None
    return [
        ("get", reverse("cases:inspections")),
        ("get", reverse("cases:inspection-create")),
        ("post", reverse("cases:inspection-create")),
        ("get", reverse("cases:inspection-edit", args=[world.inspection.pk])),
        ("get", reverse("cases:problem-create", args=[world.inspection.pk])),
        ("post", reverse("cases:problem-create", args=[world.inspection.pk])),
        ("get", reverse("cases:paste", args=[world.inspection.pk])),
        ("post", reverse("cases:paste", args=[world.inspection.pk])),
    ]


def test_nobody_but_supervisors_reaches_the_registration_pages(client, world):
    case = world.case(world.unit_a, checklist=["要点"])
    urls = _registry_urls(world, case)
    before = counts()
    for method, url in urls:  # anonymous: the login page
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    key = api_key(world.api_reader)  # a reader's token is no session: the login page too
    for method, url in urls:
        response = getattr(client, method)(url, HTTP_AUTHORIZATION=f"Token {key}")
        assert response.status_code == 302, url
    for user in (world.inspector_a, world.api_reader, world.no_unit):
        login(client, user)
        for method, url in urls:
            assert getattr(client, method)(url).status_code == 403, (user, url)
    # A supervisor of another county does not see the city's inspection (no case of its own).
    login(client, make_unit_supervisor(world))
    for method, url in urls[3:]:
        assert getattr(client, method)(url).status_code == 404, url
    assert counts() == before


def make_unit_supervisor(world: World) -> Any:
    from tests.factories import make_user

    commission = make_unit("乙县纪委监委", parent=world.county_b, is_supervising_body=True)
    return make_user(commission, "supervisor", "county_b_supervisor")


def test_a_get_writes_nothing(client, world):
    from tests.test_get_writes_nothing import ALLOWED_TABLES, row_counters, written

    case = world.case(world.unit_a, checklist=["要点"])
    login(client, world.supervisor)
    gets = [url for method, url in _registry_urls(world, case) if method == "get"]
    gets.append(reverse("cases:detail", args=[case.pk]))
    before = row_counters()
    for url in gets:
        assert client.get(url).status_code == 200, url
    writes = written(before, row_counters())
    assert not {table for table in writes if table not in ALLOWED_TABLES}, writes


# --- A problem with its items -------------------------------------------------------------------


def _problem_form(world: World, items: list[dict[str, Any]], **problem: Any) -> dict[str, Any]:
    data = {
        "problem-title": "58项审批事项未进驻政务服务大厅",
        "problem-description": "省级反馈",
        "problem-responsible_unit": world.unit_a.pk,
        "problem-deadline": days(60).isoformat(),
        "problem-source": "province_feedback",
        "problem-checklist": "窗口是否实际运行\n信息是否网上公开",
        "items-TOTAL_FORMS": str(len(items)),
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "200",
    }
    data.update({f"problem-{k}": v for k, v in problem.items()})
    for index, item in enumerate(items):
        data.update({f"items-{index}-{key}": value for key, value in item.items()})
    return data


def test_it_registers_a_problem_with_three_items_and_their_points_in_one_form(client, world):
    login(client, world.supervisor)
    url = reverse("cases:problem-create", args=[world.inspection.pk])
    assert client.get(url).status_code == 200
    items = [
        {"title": "事项一", "responsible_unit": world.unit_a_child.pk, "checklist": "一次性告知单"},
        {"title": "事项二", "deadline": days(30).isoformat(), "checklist": "办事指南\n窗口"},
        {"title": "事项三", "responsible_unit": world.unit_b.pk},
    ]
    response = client.post(url, _problem_form(world, items))
    assert response.status_code == 302, response.content.decode()[:3000]
    problem = Case.objects.get(title="58项审批事项未进驻政务服务大厅")
    assert problem.parent is None and problem.items_total == 3
    assert response["Location"] == reverse("cases:detail", args=[problem.pk])
    children = list(problem.items.order_by("code"))
    assert [c.title for c in children] == ["事项一", "事项二", "事项三"]
    assert [c.responsible_unit for c in children] == [
        world.unit_a_child,
        world.unit_a,
        world.unit_b,
    ]
    assert [c.deadline for c in children] == [days(60), days(30), days(60)]
    assert [c.code for c in children] == [f"{problem.code}-0{n}" for n in (1, 2, 3)]
    assert list(problem.checklist.values_list("text", flat=True)) == [
        "窗口是否实际运行",
        "信息是否网上公开",
    ]
    assert list(children[1].checklist.values_list("text", flat=True)) == ["办事指南", "窗口"]
    assert all(c.events.filter(kind="created").count() == 1 for c in [problem, *children])


def test_a_refused_row_stores_nothing_and_is_shown_on_its_row(client, world):
    login(client, world.supervisor)
    url = reverse("cases:problem-create", args=[world.inspection.pk])
    before = counts()
    items = [
        {"title": "事项一"},
        {"title": "事项二", "checklist": "长" * 301},  # the service's rule: 300 characters
        {"title": "事项三"},
    ]
    response = client.post(url, _problem_form(world, items))
    assert response.status_code == 400
    assert counts() == before
    forms = response.context["items"].forms
    assert not forms[0].errors and not forms[2].errors
    assert "验收要点不超过 300 个字" in str(forms[1].errors)
    # The problem's own refusal is on the problem, its items still checked.
    response = client.post(url, _problem_form(world, items[:1], title="  "))
    assert response.status_code == 400 and counts() == before


def test_a_new_problem_takes_the_inspections_rectification_deadline(world):
    from cases.registry import problem_register

    organisation.inspection_update(
        inspection=world.inspection, actor=world.supervisor, rectification_deadline=days(90)
    )
    problem = problem_register(
        actor=world.supervisor, inspection_id=world.inspection.pk,
        problem={"title": "问题", "responsible_unit": world.unit_a, "deadline": None},
        items=[{"title": "事项", "responsible_unit": None, "deadline": None}],
    )  # fmt: skip
    assert problem.deadline == days(90)
    assert problem.items.get().deadline == days(90)


# --- Pasted from Excel --------------------------------------------------------------------------

HEADER = "问题编号\t问题标题\t责任单位\t整改时限\t整改方式"


def _paste(rows: list[str]) -> str:
    return "\r\n".join([HEADER, *rows]) + "\r\n"


def test_a_paste_with_two_bad_rows_shows_both_in_place_and_stores_nothing(client, world):
    make_unit("外市局", parent=world.city.parent)
    login(client, world.supervisor)
    url = reverse("cases:paste", args=[world.inspection.pk])
    assert client.get(url).status_code == 200
    good = [f"P-{n}\t粘贴问题{n}\t甲县局\t2030-06-30\t新设窗口" for n in (1, 2, 5)]
    bad = [
        "P-3\t粘贴问题3\t外市局\t2030-06-30\t",  # the service refuses it (rehearsal)
        "P-4\t粘贴问题4\t甲县局股室\t2030-13-01\t",  # the import's reading refuses it
    ]
    text = _paste([good[0], good[1], bad[0], bad[1], good[2]])
    before = counts()
    preview = client.post(url, {"text": text, "preview": "1"})
    assert preview.status_code == 400
    body = preview.content.decode()
    assert "第 4 行 · 责任单位：“外市局”不在您的管辖范围内。" in body
    assert "第 5 行 · 整改时限：整改时限“2030-13-01”不是有效日期（如 2024-06-30）。" in body
    assert 'name="confirm"' not in body
    assert counts() == before
    # Confirming the same rows anyway: refused whole, nothing stored.
    confirmed = client.post(url, {"text": text, "confirm": "1"})
    assert confirmed.status_code == 400
    assert "第 5 行 · 整改时限" in confirmed.content.decode()
    assert counts() == before

    make_unit("甲县二局", parent=world.county_a)
    fixed = _paste([good[0], good[1], "P-3\t粘贴问题3\t甲县二局\t2030-06-30\t",
                    "P-4\t粘贴问题4\t甲县局股室\t2030-12-01\t", good[2]])  # fmt: skip
    preview = client.post(url, {"text": fixed, "preview": "1"})
    assert preview.status_code == 200
    assert 'name="confirm"' in preview.content.decode()
    assert counts() == before
    done = client.post(url, {"text": fixed, "confirm": "1"})
    assert done.status_code == 302
    assert done["Location"] == f"{reverse('cases:list')}?inspection={world.inspection.pk}"
    made = Case.objects.filter(code__startswith="P-").order_by("code")
    assert [c.code for c in made] == ["P-1", "P-2", "P-3", "P-4", "P-5"]
    assert {c.inspection_id for c in made} == {world.inspection.pk}
    assert made.get(code="P-4").deadline == date(2030, 12, 1)
    assert made.get(code="P-1").method == "new_window"
    assert all(c.events.get(kind="created").actor == world.supervisor for c in made)
    assert AuditEntry.objects.filter(action="import_ledger", changes__pasted=5).exists()


def test_a_paste_without_a_deadline_takes_the_inspections(client, world):
    organisation.inspection_update(
        inspection=world.inspection, actor=world.supervisor, rectification_deadline=days(100)
    )
    login(client, world.supervisor)
    url = reverse("cases:paste", args=[world.inspection.pk])
    text = "问题编号\t问题标题\t责任单位\nQ-1\t无时限问题\t甲县局\n"
    assert client.post(url, {"text": text, "confirm": "1"}).status_code == 302
    assert Case.objects.get(code="Q-1").deadline == days(100)
    # A row naming another inspection is refused on this inspection's page.
    other = make_inspection(world.commission, code="OTHER-1", name="另一检查")
    text = "问题编号\t所属检查\t问题标题\t责任单位\t整改时限\n"
    text += f"Q-2\t{other.code}\t问题\t甲县局\t2030-01-01\n"
    response = client.post(url, {"text": text, "preview": "1"})
    assert response.status_code == 400 and "第 2 行 · 所属检查" in response.content.decode()
    assert not Case.objects.filter(code="Q-2").exists()


# --- Checklist points on the case page ----------------------------------------------------------


def test_checklist_points_are_added_and_reworded_in_the_history(client, world):
    case = world.case(world.unit_a, checklist=["窗口是否运行"])
    point = case.checklist.get()
    login(client, world.supervisor)
    page = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert reverse("cases:checklist-add", args=[case.pk]) in page
    added = client.post(reverse("cases:checklist-add", args=[case.pk]), {"text": "信息是否公开"})
    assert added.status_code == 302
    edit_url = reverse("cases:checklist-edit", args=[case.pk, point.pk])
    assert client.post(edit_url, {f"point-{point.pk}-text": "窗口是否实际运行"}).status_code == 302
    assert list(case.checklist.values_list("text", flat=True)) == [
        "窗口是否实际运行",
        "信息是否公开",
    ]
    changes = list(case.events.filter(kind="checklist").values_list("changes", flat=True))
    assert changes == [
        {"added": [None, "信息是否公开"]},
        {"edited": ["窗口是否运行", "窗口是否实际运行"]},
    ]
    page = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert "窗口是否运行 → 窗口是否实际运行" in page
    # The same wording again records nothing; an empty one is refused on the form.
    assert client.post(edit_url, {f"point-{point.pk}-text": "窗口是否实际运行"}).status_code == 302
    assert case.events.filter(kind="checklist").count() == 2
    assert client.post(edit_url, {f"point-{point.pk}-text": " "}).status_code == 400


def test_checklist_points_are_refused_once_the_case_is_closed(client, world):
    case = world.case(world.unit_a, checklist=["要点"])
    point = case.checklist.get()
    drive_to(case, "completed", world.supervisor)
    before = counts()
    with pytest.raises(Conflict):
        checklist.checkpoint_edit(actor=world.supervisor, case_id=case.pk, point_id=point.pk,
                                  text="新")  # fmt: skip
    login(client, world.supervisor)
    response = client.post(reverse("cases:checklist-add", args=[case.pk]), {"text": "新要点"})
    assert response.status_code == 400
    assert "已办结的问题不能添加验收要点。" in response.content.decode()
    response = client.post(
        reverse("cases:checklist-edit", args=[case.pk, point.pk]), {f"point-{point.pk}-text": "新"}
    )
    assert response.status_code == 400
    assert "已办结的问题不能修改验收要点。" in response.content.decode()
    assert counts() == before


def test_only_the_cases_supervisors_edit_its_points(client, world):
    case = world.case(world.unit_b, checklist=["要点"])
    point = case.checklist.get()
    other = world.case(world.unit_a, checklist=["别的要点"]).checklist.get()
    before = counts()
    login(client, world.inspector_b)  # the unit's inspector: the form's refusal
    response = client.post(reverse("cases:checklist-add", args=[case.pk]), {"text": "新"})
    assert response.status_code == 400 and "您的角色无权设置验收要点。" in response.content.decode()
    login(client, world.county_a_supervisor)  # another county's supervisor: no such case
    assert (
        client.post(reverse("cases:checklist-add", args=[case.pk]), {"text": "新"}).status_code
        == 404
    )
    login(client, world.supervisor)  # a point of another case: no such point
    url = reverse("cases:checklist-edit", args=[case.pk, other.pk])
    assert client.post(url, {f"point-{other.pk}-text": "新"}).status_code == 404
    assert client.get(reverse("cases:checklist-add", args=[case.pk])).status_code == 405
    assert counts() == before
    assert point.text == "要点"


def test_an_edit_checks_only_the_units_it_sets(world):
    """The province issued it, the city commission supervises it: the city edits its round
    without being refused the province it cannot see."""
    inspection = make_inspection(world.city.parent, supervising_unit=world.commission, code="PV1")
    organisation.inspection_update(inspection=inspection, actor=world.supervisor, round="第二轮")
    assert Inspection.objects.get(pk=inspection.pk).round == "第二轮"
    with pytest.raises(InvalidInput) as refused:
        organisation.inspection_update(
            inspection=inspection, actor=world.supervisor, supervising_unit=world.city.parent
        )
    assert "supervising_unit" in refused.value.fields


def test_the_admin_registers_inspections_through_the_same_service(client, world):
    from tests.factories import make_superuser

    login(client, make_superuser("operator"))
    data = {
        "code": "ADM-1", "name": "后台登记的检查", "kind": "special", "year": "2024",
        "issuing_unit": world.commission.pk, "supervising_unit": world.commission.pk,
        "inspected_units": [world.unit_a.pk], "round": "第一轮", "feedback_date": "2024-05-01",
        "rectification_deadline": "2024-04-01", "max_extensions": "",
    }  # fmt: skip
    before = counts()
    refused = client.post("/admin/cases/inspection/add/", data)
    assert refused.status_code == 200
    assert "整改期限不能早于反馈日期。" in refused.content.decode()
    assert counts() == before
    data["rectification_deadline"] = "2024-11-01"
    assert client.post("/admin/cases/inspection/add/", data).status_code == 302
    inspection = Inspection.objects.get(code="ADM-1")
    assert list(inspection.inspected_units.all()) == [world.unit_a]
    assert inspection.rectification_deadline == date(2024, 11, 1)
    entry = AuditEntry.objects.get(action="inspection_create", target_id=str(inspection.pk))
    assert entry.changes["inspected_units"] == [None, [world.unit_a.pk]]
    # A change of the inspected units alone: through inspection_update, audited.
    data["inspected_units"] = [world.unit_a.pk, world.unit_b.pk]
    url = f"/admin/cases/inspection/{inspection.pk}/change/"
    assert client.post(url, data).status_code == 302
    assert set(inspection.inspected_units.all()) == {world.unit_a, world.unit_b}
    entry = AuditEntry.objects.filter(action="inspection_update").latest("pk")
    assert sorted(entry.changes["inspected_units"][1]) == sorted([world.unit_a.pk, world.unit_b.pk])
