"""Every page for each role: what it shows, what it refuses, and what it costs in queries."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import organisation, services
from cases.models import Case, CaseEvent
from tests.factories import PASSWORD, PDF, add_evidence, days, drive_to

pytestmark = pytest.mark.django_db

PERSONAS = ["supervisor", "county_a_supervisor", "api_reader", "inspector_a",
            "inspector_a_child", "inspector_b", "no_unit", "admin"]  # fmt: skip


def login(client, user):
    client.force_login(user)
    return client


# --- Landing and login --------------------------------------------------------------------


def test_it_sends_anonymous_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert client.get(reverse("cases:list"))["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("persona", "landing"), [
    ("supervisor", "cases:dashboard"), ("admin", "cases:dashboard"),
    ("inspector_a", "cases:list"), ("api_reader", "cases:list"),
])  # fmt: skip
def test_it_lands_each_role_on_its_page(client, world, persona, landing):
    response = client.post(
        reverse("login"),
        {"username": getattr(world, persona).username, "password": PASSWORD},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse(landing)
    assert response.status_code == 200


def test_it_refuses_a_wrong_password_with_a_message(client, world):
    response = client.post(reverse("login"), {"username": "inspector_a", "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_changes_a_password(client, world):
    login(client, world.inspector_a)
    response = client.post(reverse("password_change"), {
        "old_password": PASSWORD, "new_password1": "a-much-longer-pass-2026",
        "new_password2": "a-much-longer-pass-2026"})  # fmt: skip
    assert response.status_code == 302
    world.inspector_a.refresh_from_db()
    assert world.inspector_a.check_password("a-much-longer-pass-2026")


# --- Dashboard placeholder ----------------------------------------------------------------------


def test_it_shows_the_dashboard_figures_in_scope(client, world):
    world.case(world.unit_a, inspection=world.inspection)
    world.case(world.unit_b, inspection=world.restricted, title="线索")
    body = login(client, world.supervisor).get(reverse("cases:dashboard")).content.decode()
    assert world.restricted.name in body and world.inspection.name in body
    body = login(client, world.inspector_a).get(reverse("cases:dashboard")).content.decode()
    assert world.restricted.name not in body


# --- Case list ------------------------------------------------------------------------


@pytest.fixture
def cases(world):
    return {
        "own": world.case(world.unit_a, title="本单位问题"),
        "child": world.case(world.unit_a_child, title="下级单位问题"),
        "sibling": world.case(world.unit_b, title="兄弟单位问题"),
        "city": world.case(world.city_dept, title="市直问题"),
        "restricted": world.case(world.unit_a, inspection=world.restricted, title="线索问题"),
    }


VISIBLE = {
    "supervisor": {"own", "child", "sibling", "city", "restricted"},
    "admin": {"own", "child", "sibling", "city", "restricted"},
    "county_a_supervisor": {"own", "child", "restricted"},
    "api_reader": {"own", "child", "sibling", "city"},
    "inspector_a": {"own", "child"},
    "inspector_a_child": {"child"},
    "inspector_b": {"sibling"},
    "no_unit": set(),
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_lists_exactly_the_cases_in_scope(client, world, cases, persona):
    body = login(client, getattr(world, persona)).get(reverse("cases:list")).content.decode()
    shown = {name for name, case in cases.items() if case.title in body}
    assert shown == VISIBLE[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_opens_a_case_page_only_in_scope(client, world, cases, persona):
    login(client, getattr(world, persona))
    for name, case in cases.items():
        status = client.get(reverse("cases:detail", args=[case.pk])).status_code
        assert status == (200 if name in VISIBLE[persona] else 404), name
    assert client.get(reverse("cases:detail", args=[10**9])).status_code == 404


def test_it_filters_searches_sorts_and_paginates_the_list(client, world):
    login(client, world.supervisor)
    red = world.case(world.unit_a, title="消防逾期", deadline=days(-3))
    world.case(world.unit_b, title="耕地", deadline=days(40))
    body = client.get(reverse("cases:list"), {"light": "red"}).content.decode()
    assert "消防逾期" in body and "耕地" not in body
    body = client.get(reverse("cases:list"), {"search": "耕地"}).content.decode()
    assert "耕地" in body and "消防逾期" not in body
    body = client.get(reverse("cases:list"), {"region": world.county_b.pk}).content.decode()
    assert "耕地" in body and "消防逾期" not in body
    body = client.get(reverse("cases:list"), {"ordering": "-deadline"}).content.decode()
    assert body.index("耕地") < body.index("消防逾期")
    for _ in range(35):
        world.case(world.unit_a)
    page2 = client.get(reverse("cases:list"), {"page": 2, "ordering": "deadline"}).content.decode()
    assert "第 2 / 2 页" in page2 and red.code not in page2


def test_it_shows_each_rows_light_flags_and_progress_in_the_list(client, world):
    login(client, world.supervisor)
    late = world.case(title="<b>逾期</b>", deadline=days(-3), is_key_problem=True)
    Case.objects.filter(pk=late.pk).update(extensions=2, items_total=4, items_done=1)
    world.case(title="正常问题", deadline=days(60))
    body = client.get(reverse("cases:list"), {"ordering": "deadline"}).content.decode()
    row = body[body.index(f'value="{late.pk}"') : body.index("正常问题")]
    assert f'aria-label="选择 {late.code}"' in row
    assert 'class="light light-red" title="红灯：已逾期">逾期</span>' in row
    assert "&lt;b&gt;逾期&lt;/b&gt;" in row and "<b>" not in row
    assert '<span class="tag">重点难点</span>' in row and "已延期 2 次" in row
    assert '<span class="progress">1/4</span>' in row
    assert f'href="{reverse("cases:detail", args=[late.pk])}"' in row
    assert 'class="light light-green" title="绿灯：正常">正常</span>' in body
    english = client.get(reverse("cases:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'aria-label="Select {late.code}"' in english


def test_it_explains_an_empty_list(client, world):
    body = login(client, world.inspector_b).get(reverse("cases:list")).content.decode()
    assert "还没有整改问题" in body
    world.case(world.unit_b)
    body = client.get(reverse("cases:list"), {"search": "不存在的关键词"}).content.decode()
    assert "没有符合筛选条件的问题" in body


def test_it_shows_a_bad_filter_instead_of_failing(client, world):
    response = login(client, world.supervisor).get(reverse("cases:list"), {"status": "bogus"})
    assert response.status_code == 200
    assert "筛选条件有误" in response.content.decode()


def test_it_answers_htmx_with_the_results_fragment(client, world, cases):
    login(client, world.supervisor)
    response = client.get(
        reverse("cases:list"),
        {"search": "本单位"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="case-results",
    )
    body = response.content.decode()
    assert "<html" not in body and "本单位问题" in body


def test_it_lists_in_a_constant_number_of_queries(client, world):
    login(client, world.supervisor)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("cases:list")).status_code == 200
        return len(ctx.captured_queries)

    world.case(world.unit_a)
    queries()  # the session's first request stamps its clocks (a write): not counted
    few = queries()
    for _ in range(10):
        problem = world.case(world.unit_b, checklist=["一"])
        world.case(world.unit_b, parent=problem)
    # Whatever the number of cases; the scope's units are read once
    # (selectors.remember_scope_for_request). The top bar's counts are asked for apart.
    assert (few, queries()) == (9, 9)


def test_it_shows_lights_and_items_progress(client, world):
    problem = world.case(world.unit_a, title="大问题", deadline=days(-1))
    for _ in range(3):
        drive_to(world.case(world.unit_a, parent=problem), "completed", world.supervisor)
    world.case(world.unit_a, parent=problem)
    body = login(client, world.supervisor).get(reverse("cases:list")).content.decode()
    assert "3/4" in body and "light-red" in body


# --- Bulk actions ----------------------------------------------------------------------


def test_it_extends_many_deadlines_at_once(client, world):
    a, b = world.case(world.unit_a), world.case(world.unit_b)
    login(client, world.supervisor)
    response = client.post(reverse("cases:bulk"), {
        "action": "extend", "cases": [a.pk, b.pk], "deadline": days(90).isoformat(),
        "note": "统一延期"})  # fmt: skip
    assert response.status_code == 302
    assert set(Case.objects.filter(pk__in=[a.pk, b.pk]).values_list("deadline", flat=True)) == {
        days(90)
    }


def test_it_applies_a_bulk_action_to_all_or_none(client, world):
    a = world.case(world.unit_a)
    done = drive_to(world.case(world.unit_b), "completed", world.supervisor)
    login(client, world.supervisor)
    response = client.post(reverse("cases:bulk"), {
        "action": "extend", "cases": [a.pk, done.pk], "deadline": days(90).isoformat(),
        "note": "延期"}, follow=True)  # fmt: skip
    assert "未执行任何操作" in response.content.decode()
    assert Case.objects.get(pk=a.pk).deadline == days(30)


def test_it_follows_up_and_reassigns_in_bulk(client, world):
    a, b = world.case(world.unit_a), world.case(world.unit_a)
    login(client, world.supervisor)
    client.post(
        reverse("cases:bulk"), {"action": "follow_up", "cases": [a.pk, b.pk], "note": "请加快进度"}
    )
    assert CaseEvent.objects.filter(kind="follow_up", case__in=[a, b]).count() == 2
    client.post(
        reverse("cases:bulk"),
        {"action": "assign", "cases": [a.pk], "responsible_unit": world.unit_b.pk},
    )
    assert Case.objects.get(pk=a.pk).responsible_unit == world.unit_b


def test_it_never_bulk_changes_cases_out_of_scope(client, world):
    foreign = world.case(world.unit_b)
    login(client, world.county_a_supervisor)
    client.post(
        reverse("cases:bulk"), {"action": "follow_up", "cases": [foreign.pk], "note": "越权督办"}
    )
    assert not CaseEvent.objects.filter(kind="follow_up").exists()


def test_it_refuses_bulk_actions_to_inspectors(client, world):
    a = world.case(world.unit_a)
    login(client, world.inspector_a)
    assert 'name="action"' not in client.get(reverse("cases:list")).content.decode()
    client.post(reverse("cases:bulk"), {"action": "follow_up", "cases": [a.pk], "note": "x"})
    assert not CaseEvent.objects.filter(kind="follow_up").exists()


# --- Case page: workflow and edits -------------------------------------------------------------


def _move(client, case, **data):
    return client.post(reverse("cases:transition", args=[case.pk]), data)


def test_it_offers_only_the_moves_the_user_may_make_now(client, world):
    case = drive_to(world.case(world.unit_a), "submitted", world.supervisor)
    body = login(client, world.inspector_a).get(reverse("cases:detail", args=[case.pk]))
    assert 'name="to"' not in body.content.decode()  # only supervisors act on submitted
    body = login(client, world.supervisor).get(reverse("cases:detail", args=[case.pk]))
    text = body.content.decode()
    assert 'value="completed"' in text and 'value="in_progress"' in text
    assert 'value="escalated"' not in text


def test_it_moves_a_case_with_a_note_and_evidence(client, world):
    case = drive_to(world.case(world.unit_a), "in_progress", world.supervisor)
    login(client, world.inspector_a)
    response = _move(
        client,
        case,
        to="submitted",
        note="已整改完毕",
        evidence=SimpleUploadedFile("报告.pdf", PDF),
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "submitted"
    event = case.events.get(to_status="submitted")
    assert event.note == "已整改完毕" and event.evidence.get().original_name == "报告.pdf"
    page = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert "已整改完毕" in page and "报告.pdf" in page
    # Under its history row too (cases.case_page takes it from the case's evidence).
    download = reverse("cases:evidence-download", args=[case.pk, event.evidence.get().pk])
    assert f'<div class="attachment">📎 <a href="{download}">报告.pdf</a></div>' in page


def test_it_shows_a_refused_move_and_changes_nothing(client, world):
    case = drive_to(world.case(world.unit_a), "in_progress", world.supervisor)
    login(client, world.inspector_a)
    response = _move(client, case, to="submitted", note="")
    assert response.status_code == 400
    assert "须填写说明或理由" in response.content.decode()
    assert Case.objects.get(pk=case.pk).status == "in_progress"


def test_it_refuses_a_move_the_role_may_not_make(client, world):
    case = drive_to(world.case(world.unit_a), "submitted", world.supervisor)
    response = _move(login(client, world.inspector_a), case, to="completed")
    assert response.status_code == 400
    assert Case.objects.get(pk=case.pk).status == "submitted"


def test_it_closes_only_with_every_checklist_point_confirmed(client, world):
    case = drive_to(
        world.case(world.unit_a, checklist=["窗口运行", "信息公开"]), "submitted", world.supervisor
    )
    points = list(case.checklist.values_list("pk", flat=True))
    login(client, world.supervisor)
    response = _move(client, case, to="completed", confirm=points[:1])
    assert response.status_code == 400 and "信息公开" in response.content.decode()
    assert _move(client, case, to="completed", confirm=points).status_code == 302
    assert Case.objects.get(pk=case.pk).status == "completed"


def test_it_returns_a_case_with_a_reason(client, world):
    case = drive_to(world.case(world.unit_a), "submitted", world.supervisor)
    _move(login(client, world.supervisor), case, to="in_progress", note="佐证材料不全")
    case.refresh_from_db()
    assert case.status == "in_progress"
    assert case.events.last().note == "佐证材料不全"


def test_it_answers_htmx_posts_with_the_refreshed_case_body(client, world):
    case = world.case(world.unit_a)
    login(client, world.inspector_a)
    response = client.post(
        reverse("cases:transition", args=[case.pk]), {"to": "in_progress"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200 and '<div id="case-body">' in body and "<html" not in body
    assert "待整改 → 整改中" in body


def test_it_saves_measures_and_progress(client, world):
    case = world.case(world.unit_a)
    login(client, world.inspector_a)
    client.post(
        reverse("cases:rectification", args=[case.pk]),
        {"measures": "清理通道", "progress": "完成一半"},
    )
    case.refresh_from_db()
    assert (case.measures, case.progress) == ("清理通道", "完成一半")


def test_it_uploads_evidence_and_refuses_a_disguised_file(client, world):
    case = world.case(world.unit_a)
    login(client, world.inspector_a)
    bad = client.post(
        reverse("cases:evidence", args=[case.pk]),
        {"evidence": SimpleUploadedFile("x.pdf", b"MZ\x90\x00 not a pdf")},
    )
    assert bad.status_code == 400 and not case.evidence.exists()
    good = client.post(
        reverse("cases:evidence", args=[case.pk]),
        {"evidence": SimpleUploadedFile("照片.pdf", PDF), "note": "现场"},
    )
    assert good.status_code == 302 and case.evidence.count() == 1


def test_it_lets_supervisors_extend_reassign_and_follow_up(client, world):
    case = world.case(world.unit_a)
    login(client, world.supervisor)
    client.post(
        reverse("cases:deadline", args=[case.pk]),
        {"deadline": days(60).isoformat(), "reason": "需上级协调"},
    )
    client.post(
        reverse("cases:assign", args=[case.pk]),
        {"responsible_unit": world.unit_b.pk, "owner": "", "note": "职责调整"},
    )
    client.post(reverse("cases:follow-up", args=[case.pk]), {"note": "请本周内反馈"})
    case.refresh_from_db()
    assert case.deadline == days(60) and case.responsible_unit == world.unit_b
    assert case.events.filter(kind="follow_up").exists()


def test_it_loads_the_reassignment_form_when_its_panel_opens(client, world):
    case = world.case(world.unit_a, owner=world.inspector_a)
    login(client, world.supervisor)
    form_url = reverse("cases:assign-form", args=[case.pk])
    page = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    # The case page carries the panel and a link, not the pickers' units and people.
    assert f'hx-get="{form_url}"' in page and f'href="{form_url}"' in page
    assert 'id="id_responsible_unit"' not in page and world.unit_b.name not in page
    panel = client.get(form_url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in panel and 'hx-target="#case-body"' in panel
    assert f'<option value="{world.unit_a.pk}" selected>' in panel
    assert f'<option value="{world.inspector_a.pk}" selected>' in panel
    # Without JavaScript: a page of its own, posting as the panel does.
    alone = client.get(form_url).content.decode()
    assert "<html" in alone and "hx-post" not in alone.split('id="assign-form"', 1)[1]
    assert f'action="{reverse("cases:assign", args=[case.pk])}"' in alone
    # A refused reassignment shows the form open, with the reason, on the case page.
    refused = client.post(
        reverse("cases:assign", args=[case.pk]), {"responsible_unit": "x", "note": "职责调整"}
    )
    body = refused.content.decode()
    assert refused.status_code == 400 and 'id="assign-form"' in body
    assert '<details class="card" open><summary>调整责任单位或责任人' in body
    login(client, world.inspector_a)
    assert client.get(form_url).status_code == 403
    login(client, world.city_dept_supervisor)  # 市局: 甲县局's case is not in its subtree
    assert client.get(form_url).status_code == 404


@pytest.mark.parametrize("endpoint", ["deadline", "assign", "follow-up"])
def test_it_refuses_supervisor_edits_to_inspectors(client, world, endpoint):
    case = world.case(world.unit_a)
    login(client, world.inspector_a)
    page = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert reverse(f"cases:{endpoint}", args=[case.pk]) not in page
    response = client.post(reverse(f"cases:{endpoint}", args=[case.pk]), {
        "deadline": days(60).isoformat(), "reason": "x", "responsible_unit": world.unit_a.pk,
        "note": "x"})  # fmt: skip
    assert response.status_code == 400
    case.refresh_from_db()
    assert case.deadline == days(30) and not case.events.exclude(kind="created").exists()


@pytest.mark.parametrize(
    "endpoint", ["transition", "rectification", "evidence", "deadline", "assign", "follow-up"]
)
def test_it_answers_404_to_writes_on_cases_out_of_scope(client, world, endpoint):
    case = world.case(world.unit_b)
    login(client, world.inspector_a)
    response = client.post(reverse(f"cases:{endpoint}", args=[case.pk]), {"to": "in_progress"})
    assert response.status_code == 404
    assert not case.events.exclude(kind="created").exists()


def test_it_requires_csrf_on_every_form(world):
    from django.test import Client

    case = world.case(world.unit_a)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.inspector_a)
    assert (
        client.post(reverse("cases:transition", args=[case.pk]), {"to": "in_progress"}).status_code
        == 403
    )
    assert Case.objects.get(pk=case.pk).status == "open"


def test_it_escapes_user_text_everywhere(client, world):
    payload = "<script>alert(1)</script>"
    case = world.case(world.unit_a, title=payload, description=payload)
    services.case_update_rectification(actor=world.inspector_a, case_id=case.pk, measures=payload)
    login(client, world.supervisor)
    for url in (reverse("cases:list"), reverse("cases:detail", args=[case.pk])):
        body = client.get(url).content.decode()
        assert payload not in body and "&lt;script&gt;" in body


def test_it_shows_the_timeline_with_who_and_when(client, world):
    case = world.case(world.unit_a)
    services.case_transition(actor=world.inspector_a, case_id=case.pk, to="in_progress")
    services.case_extend_deadline(
        actor=world.supervisor, case_id=case.pk, deadline=days(45), reason="协调中"
    )
    body = login(client, world.inspector_a).get(reverse("cases:detail", args=[case.pk]))
    text = body.content.decode()
    assert "待整改 → 整改中" in text and "协调中" in text and "inspector_a" in text


def test_it_shows_a_case_page_in_few_queries(client, world, django_assert_num_queries):
    problem = world.case(world.unit_a, checklist=["一", "二"])
    for _ in range(6):
        drive_to(world.case(world.unit_a, parent=problem), "completed", world.supervisor)
    login(client, world.supervisor)
    client.get(reverse("cases:list"))  # the session's first request stamps its clocks: a write
    # 2 of them the extension requests and may one be asked; everyone named on the page is
    # labelled with one query (cases.case_page). The assign form's pickers are asked for when
    # its panel opens (cases.views.case_assign_form), the top bar's counts once it has loaded.
    with django_assert_num_queries(10):
        assert client.get(reverse("cases:detail", args=[problem.pk])).status_code == 200


# --- Evidence download --------------------------------------------------------------------


@pytest.fixture
def evidence(world):
    case = world.case(world.unit_a)
    return add_evidence(world.inspector_a, case, '报告"; filename=evil.html.pdf')


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_serves_evidence_only_in_scope(client, world, evidence, persona):
    login(client, getattr(world, persona))
    url = reverse("cases:evidence-download", args=[evidence.case_id, evidence.pk])
    response = client.get(url)
    in_scope = persona in {
        "supervisor",
        "admin",
        "county_a_supervisor",
        "api_reader",
        "inspector_a",
    }
    assert response.status_code == (200 if in_scope else 404)
    if in_scope:
        assert b"".join(response.streaming_content) == PDF
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Disposition"].startswith("attachment;")


def test_it_stores_evidence_under_a_generated_name(evidence):
    assert "evil" not in evidence.file.name and evidence.file.name.endswith(".pdf")


# --- Health and language ----------------------------------------------------------------


def test_it_reports_health(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_it_speaks_english_when_asked(client, world):
    login(client, world.inspector_a)
    response = client.get(reverse("cases:list"), HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Language"] == "en"
    assert "My rectification tasks" in response.content.decode()


def test_unit_and_inspection_choices_mark_the_selection_and_escape_names(client, world):
    organisation.unit_update(
        unit=world.unit_b, name="乙县<局>", is_supervising_body=False, is_responsible_unit=True
    )
    login(client, world.supervisor)
    page = client.get(reverse("cases:list"), {"responsible_unit": world.unit_a.pk}).content
    page = page.decode()
    assert f'<option value="{world.unit_a.pk}" selected>甲县局</option>' in page
    assert f'<option value="{world.unit_b.pk}">乙县&lt;局&gt;</option>' in page
    dashboard = client.get(reverse("cases:dashboard"), {"inspection": world.inspection.pk})
    assert f'<option value="{world.inspection.pk}" selected>' in dashboard.content.decode()
