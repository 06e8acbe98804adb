"""The API contract: tokens, case list and filters, workflow answers, history, evidence, stats."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from cases import organisation, selectors, services, tokens
from cases.completion import completion_rows
from cases.models import ApiToken, Case, CaseEvent
from tests.factories import PASSWORD, PDF, api_key, days, drive_to

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def sup(world):
    return client_for(world.supervisor)


# --- Tokens ---------------------------------------------------------------------------


def test_it_issues_a_token_for_a_username_and_password(world):
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": "api_reader", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    # Stored as its hash only: the key itself is nowhere in the database.
    stored = ApiToken.objects.get(key_hash=tokens.hash_key(token))
    assert stored.user == world.api_reader and stored.key_prefix == token[:8]
    assert not ApiToken.objects.filter(key_hash=token).exists()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/cases/").status_code == 200


def test_it_answers_unknown_users_and_wrong_passwords_alike(world):
    client = APIClient()
    wrong = client.post(
        "/api/v1/auth/token/", {"username": "api_reader", "password": "nope"}, format="json"
    )
    unknown = client.post(
        "/api/v1/auth/token/", {"username": "ghost", "password": "nope"}, format="json"
    )
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
    assert not ApiToken.objects.exists()


def test_it_revokes_a_token(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(world.api_reader)}")
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert client.get("/api/v1/cases/").status_code == 401


def test_it_refuses_a_disabled_users_token(world):
    key = api_key(world.inspector_a)
    world.inspector_a.is_active = False
    world.inspector_a.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/cases/").status_code == 401


def test_it_keeps_an_api_reader_token_read_only(world):
    case = world.case(world.unit_a)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(world.api_reader)}")
    assert client.get(f"/api/v1/cases/{case.pk}/").status_code == 200
    response = client.post(
        f"/api/v1/cases/{case.pk}/transitions/", {"to": "in_progress"}, format="json"
    )
    assert response.status_code == 403
    assert (
        client.patch(f"/api/v1/cases/{case.pk}/", {"progress": "x"}, format="json").status_code
        == 403
    )
    assert Case.objects.get(pk=case.pk).status == "open"


def test_it_requires_csrf_for_session_writes(world):
    case = world.case(world.unit_a)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.supervisor)  # the CSRF check, not the login, is under test
    response = client.post(
        f"/api/v1/cases/{case.pk}/transitions/", {"to": "in_progress"}, format="json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
    assert Case.objects.get(pk=case.pk).status == "open"


# --- Case list ------------------------------------------------------------------------


def test_it_lists_cases_with_the_documented_fields(world, sup):
    problem = world.case(world.unit_a, title="问题", checklist=["要点一"])
    item = world.case(world.unit_a, parent=problem)
    drive_to(item, "completed", world.supervisor)
    body = sup.get("/api/v1/cases/", {"parent": "", "ordering": "id"}).json()
    assert set(body) == {"count", "count_exact", "next", "previous", "results"}
    row = next(r for r in body["results"] if r["id"] == problem.pk)
    assert row["status"] == "open" and row["status_display"] == "待整改"
    assert row["items"] == {"total": 1, "done": 1}
    assert row["checklist"] == [
        {"id": problem.checklist.get().pk, "text": "要点一", "confirmed": False, "note": ""}
    ]
    assert row["responsible_unit"] == {"id": world.unit_a.pk, "name": "甲县局"}
    assert row["light"] in {"red", "yellow", "green"}
    assert next(r for r in body["results"] if r["id"] == item.pk)["items"] is None


def test_it_paginates_up_to_200(world, sup):
    for _ in range(3):
        world.case(world.unit_a)
    body = sup.get("/api/v1/cases/", {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert sup.get("/api/v1/cases/", {"page_size": 5000}).status_code == 200


def _ids(client, **params):
    body = client.get("/api/v1/cases/", {"page_size": 200, **params}).json()
    return {row["id"] for row in body["results"]}


def test_it_filters_by_status_one_or_several(world, sup):
    a, b, c = (world.case(world.unit_a) for _ in range(3))
    drive_to(b, "in_progress", world.supervisor)
    drive_to(c, "escalated", world.supervisor)
    assert _ids(sup, status="open") == {a.pk}
    assert _ids(sup, status="open,escalated") == {a.pk, c.pk}
    assert sup.get("/api/v1/cases/?status=open&status=in_progress").json()["count"] == 2


def test_it_filters_by_unit_including_its_subtree(world, sup):
    own = world.case(world.unit_a)
    child = world.case(world.unit_a_child)
    world.case(world.unit_b)
    assert _ids(sup, responsible_unit=world.unit_a.pk) == {own.pk, child.pk}
    assert _ids(sup, responsible_unit=world.county_a.pk) == {own.pk, child.pk}
    assert _ids(sup, responsible_unit=999999) == set()


def test_it_filters_by_lights_overdue_and_deadlines(world, sup):
    red = world.case(deadline=days(-2))
    yellow = world.case(deadline=days(3))
    green = world.case(deadline=days(30))
    done_late = world.case(deadline=days(-5))
    drive_to(done_late, "completed", world.supervisor)
    assert _ids(sup, light="red") == {red.pk}
    assert _ids(sup, light="yellow") == {yellow.pk}
    assert _ids(sup, light="green") == {green.pk, done_late.pk}
    assert _ids(sup, overdue="true") == {red.pk}
    assert _ids(sup, overdue="false") == {yellow.pk, green.pk, done_late.pk}
    assert _ids(sup, deadline_before=days(0).isoformat()) == {red.pk, done_late.pk}
    assert _ids(sup, deadline_after=days(1).isoformat(), deadline_before=days(10).isoformat()) == {
        yellow.pk
    }
    # The list's light and the filter agree for every case.
    for row in sup.get("/api/v1/cases/").json()["results"]:
        assert row["id"] in _ids(sup, light=row["light"])


def test_it_filters_by_region_parent_inspection_key_problem_and_update_time(world, sup):
    other = organisation.inspection_create(
        name="另一检查", kind="special", year=2024, issuing_unit=world.commission
    )
    problem = world.case(world.unit_a, is_key_problem=True)
    item = world.case(world.unit_a, parent=problem)
    b = world.case(world.unit_b, inspection=other)
    assert _ids(sup, region=world.county_b.pk) == {b.pk}
    assert _ids(sup, parent=problem.pk) == {item.pk}
    assert _ids(sup, inspection=other.pk) == {b.pk}
    assert _ids(sup, key_problem="true") == {problem.pk}
    later = timezone.now() + timedelta(hours=1)
    services.case_update_rectification(
        actor=world.supervisor, case_id=b.pk, progress="新进展", at=later + timedelta(minutes=1)
    )
    assert _ids(sup, updated_since=later.isoformat()) == {b.pk}


def test_it_searches_code_title_and_description_in_chinese(world, sup):
    fire = world.case(world.unit_a, title="消防通道堵塞")
    land = world.case(world.unit_a, title="耕地问题", description="违法占用基本农田建房")
    assert _ids(sup, search="消防") == {fire.pk}
    assert _ids(sup, search="基本农田") == {land.pk}
    assert _ids(sup, search=land.code) == {land.pk}


def test_it_sorts(world, sup):
    late = world.case(deadline=days(20))
    early = world.case(deadline=days(2))
    rows = sup.get("/api/v1/cases/", {"ordering": "deadline"}).json()["results"]
    assert [r["id"] for r in rows] == [early.pk, late.pk]
    rows = sup.get("/api/v1/cases/", {"ordering": "-deadline"}).json()["results"]
    assert [r["id"] for r in rows] == [late.pk, early.pk]


def test_it_lists_in_a_constant_number_of_queries(world, sup):
    def count_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert sup.get("/api/v1/cases/", {"page_size": 200}).status_code == 200
        return len(ctx.captured_queries)

    world.case(world.unit_a, checklist=["一"])
    few = count_queries()
    for _ in range(15):
        parent = world.case(world.unit_b, checklist=["一", "二"], owner=None)
        world.case(world.unit_b, parent=parent)
    assert (few, count_queries()) == (4, 4)


def test_its_case_rows_are_what_the_declared_fields_give(world, sup):
    """CaseSerializer writes its rows out (for speed): the same JSON, key for key and in the
    same order, as DRF's walk over the declared fields, in both languages."""
    from decimal import Decimal

    from django.utils import translation
    from rest_framework import serializers

    from cases.api.serializers import CaseSerializer

    parent = world.case(world.unit_b, checklist=["一", "二"], amount=Decimal("12.5"),
                        is_key_problem=True, description="描述", method="other")  # fmt: skip
    world.case(world.unit_b, parent=parent, owner=None)
    drive_to(world.case(world.unit_a, deadline=days(-3)), "completed", world.supervisor)
    cases = list(selectors.case_list(world.supervisor).prefetch_related("checklist").order_by("id"))
    assert any(case.closed_at for case in cases) and any(case.owner_id is None for case in cases)
    for language in ("zh-hans", "en"):
        with translation.override(language):
            written = CaseSerializer(cases, many=True).data
            one = CaseSerializer()
            walked = [serializers.ModelSerializer.to_representation(one, case) for case in cases]
            assert [list(row.items()) for row in written] == [list(row.items()) for row in walked]


# --- Create and edit --------------------------------------------------------------------


def test_it_creates_a_case_through_the_service(world, sup):
    response = sup.post("/api/v1/cases/", {
        "inspection": world.inspection.pk, "title": "新问题", "responsible_unit": world.unit_b.pk,
        "deadline": days(10).isoformat(), "checklist": ["窗口是否运行"],
    }, format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["code"] == f"{world.inspection.code}-001"
    assert body["region"]["id"] == world.county_b.pk
    assert CaseEvent.objects.filter(case_id=body["id"], kind="created").count() == 1


def test_it_edits_measures_deadline_and_unit_with_history(world, sup):
    case = world.case(world.unit_a)
    response = sup.patch(f"/api/v1/cases/{case.pk}/", {
        "measures": "新措施", "deadline": days(60).isoformat(), "reason": "上级协调",
        "responsible_unit": world.unit_b.pk,
    }, format="json")  # fmt: skip
    assert response.status_code == 200, response.json()
    case.refresh_from_db()
    assert (case.measures, case.deadline, case.responsible_unit) == (
        "新措施",
        days(60),
        world.unit_b,
    )
    kinds = set(case.events.values_list("kind", flat=True))
    assert {"rectification", "deadline", "assignment"} <= kinds


def test_it_refuses_a_deadline_change_without_reason_and_stores_nothing(world, sup):
    case = world.case(world.unit_a)
    response = sup.patch(
        f"/api/v1/cases/{case.pk}/",
        {"measures": "新措施", "deadline": days(60).isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert "reason" in response.json()["fields"]
    case.refresh_from_db()
    assert case.measures == "" and case.deadline == days(30)  # all or nothing


def test_it_lets_inspectors_edit_progress_but_not_deadlines(world):
    case = world.case(world.unit_a)
    client = client_for(world.inspector_a)
    assert (
        client.patch(
            f"/api/v1/cases/{case.pk}/", {"progress": "已完成一半"}, format="json"
        ).status_code
        == 200
    )
    response = client.patch(
        f"/api/v1/cases/{case.pk}/",
        {"deadline": days(90).isoformat(), "reason": "想延期"},
        format="json",
    )
    assert response.status_code == 403


# --- Transitions ----------------------------------------------------------------------


def _move(client, case, **body):
    return client.post(f"/api/v1/cases/{case.pk}/transitions/", body, format="json")


def test_it_moves_a_case_and_answers_the_updated_case(world):
    case = world.case(world.unit_a)
    response = _move(client_for(world.inspector_a), case, to="in_progress")
    assert response.status_code == 200
    assert response.json()["status"] == "in_progress"
    assert response.json()["status_display"] == "整改中"


@pytest.mark.parametrize(("setup", "body", "persona", "status", "code"), [
    ("open", {"to": "finished"}, "inspector_a", 400, "unknown_status"),
    ("in_progress", {"to": "submitted"}, "inspector_a", 400, "note_required"),
    ("open", {"to": "completed"}, "supervisor", 409, "move_not_allowed"),
    ("submitted", {"to": "completed"}, "inspector_a", 403, "role_not_allowed"),
    ("open", {"to": "in_progress"}, "inspector_b", 404, "not_found"),
])  # fmt: skip
def test_it_answers_refused_moves_with_the_documented_codes(
    world, setup, body, persona, status, code
):
    case = drive_to(world.case(world.unit_a), setup, world.supervisor)
    events = case.events.count()
    response = _move(client_for(getattr(world, persona)), case, **body)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert case.events.count() == events


def test_it_answers_409_to_the_loser_of_a_race(world):
    case = world.case(world.unit_a)
    first = _move(client_for(world.inspector_a), case, to="in_progress")
    second = _move(client_for(world.supervisor), case, to="in_progress")
    assert (first.status_code, second.status_code) == (200, 409)


def test_it_answers_404_for_a_missing_and_a_hidden_case_alike(world):
    hidden = world.case(world.unit_b)
    client = client_for(world.inspector_a)
    missing = _move(client, Case(pk=10**9), to="in_progress")
    foreign = _move(client, hidden, to="in_progress")
    assert missing.status_code == foreign.status_code == 404
    assert missing.json() == foreign.json()


def test_it_closes_with_the_checklist_confirmed(world, sup):
    case = drive_to(world.case(world.unit_a, checklist=["一", "二"]), "submitted", world.supervisor)
    ids = list(case.checklist.values_list("id", flat=True))
    refused = _move(sup, case, to="completed", confirm=ids[:1])
    assert refused.status_code == 400 and "confirm" in refused.json()["fields"]
    closed = _move(sup, case, to="completed", confirm=ids)
    assert closed.status_code == 200
    assert all(point["confirmed"] for point in closed.json()["checklist"])


def test_it_speaks_english_when_asked(world):
    case = world.case(world.unit_a)
    response = client_for(world.supervisor).post(
        f"/api/v1/cases/{case.pk}/transitions/",
        {"to": "completed"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 409
    assert "cannot" in response.json()["message"].lower()


# --- History and evidence ---------------------------------------------------------------


def test_it_shows_the_history(world):
    case = world.case(world.unit_a)
    client = client_for(world.inspector_a)
    _move(client, case, to="in_progress")
    _move(client, case, to="submitted", note="整改完毕")
    rows = client.get(f"/api/v1/cases/{case.pk}/history/").json()
    assert [(r["from_status"], r["to_status"]) for r in rows] == [
        ("", "open"),
        ("open", "in_progress"),
        ("in_progress", "submitted"),
    ]
    assert rows[-1]["note"] == "整改完毕"
    assert rows[-1]["actor"]["username"] == "inspector_a"
    assert rows[-1]["time"]


def test_it_uploads_lists_and_downloads_evidence(world):
    case = world.case(world.unit_a)
    client = client_for(world.inspector_a)
    upload = SimpleUploadedFile("整改报告.pdf", PDF, content_type="application/pdf")
    response = client.post(
        f"/api/v1/cases/{case.pk}/evidence/", {"file": upload, "note": "报告"}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    listed = client.get(f"/api/v1/cases/{case.pk}/evidence/").json()
    assert [e["original_name"] for e in listed] == ["整改报告.pdf"]
    download = client.get(listed[0]["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Disposition"].startswith("attachment")
    assert client_for(world.inspector_b).get(listed[0]["download_url"]).status_code == 404


def test_it_refuses_oversized_evidence_with_413(world, settings):
    settings.EVIDENCE_MAX_BYTES = len(PDF) - 1
    case = world.case(world.unit_a)
    upload = SimpleUploadedFile("big.pdf", PDF, content_type="application/pdf")
    response = client_for(world.inspector_a).post(
        f"/api/v1/cases/{case.pk}/evidence/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 413
    assert not case.evidence.exists()


# --- Units, inspections, stats ---------------------------------------------------------------


def test_it_searches_units_in_scope(world):
    body = client_for(world.inspector_a).get("/api/v1/units/", {"search": "局"}).json()
    assert {row["name"] for row in body["results"]} == {"甲县局", "甲县局股室"}


def test_it_gives_inspections_their_completion_figures(world, sup):
    done = world.case(world.unit_a)
    world.case(world.unit_b, deadline=days(-1))
    drive_to(done, "completed", world.supervisor)
    row = next(
        r
        for r in sup.get("/api/v1/inspections/").json()["results"]
        if r["id"] == world.inspection.pk
    )
    assert (row["total"], row["done"], row["completion_rate"], row["overdue"]) == (2, 1, 0.5, 1)
    assert row["on_time_rate"] == 1.0


@pytest.mark.parametrize("group_by", ["inspection", "unit", "region"])
@pytest.mark.parametrize("level", ["problem", "item"])
def test_it_answers_stats_from_the_completion_module(world, sup, group_by, level):
    problem = world.case(world.unit_a)
    for _ in range(2):
        drive_to(world.case(world.unit_a, parent=problem), "completed", world.supervisor)
    world.case(world.unit_b, deadline=days(-3))
    body = sup.get("/api/v1/stats/completion/", {"group_by": group_by, "level": level}).json()
    expected = completion_rows(
        selectors.visible_cases(world.supervisor), group_by=group_by, level=level
    )
    for row in expected:  # the look-back's figures (lookback.figures): a supervisor reads 0
        row.accountability = 0
    assert body["rows"] == [row.as_dict() for row in expected]
    assert body["total"]["total"] == sum(row.total for row in expected)


def test_it_answers_stats_as_of_a_past_date_and_filtered(world, sup):
    case = world.case(world.unit_a, at=timezone.now() - timedelta(days=10))
    drive_to(case, "completed", world.supervisor, at=timezone.now() - timedelta(days=3))
    today = timezone.localdate()
    now = sup.get(
        "/api/v1/stats/completion/", {"group_by": "unit", "as_of": today.isoformat()}
    ).json()
    before = sup.get(
        "/api/v1/stats/completion/",
        {"group_by": "unit", "as_of": (today - timedelta(days=5)).isoformat()},
    ).json()
    assert now["rows"][0]["done"] == 1 and before["rows"][0]["done"] == 0
    other = sup.get(
        "/api/v1/stats/completion/", {"group_by": "unit", "region": world.county_b.pk}
    ).json()
    assert other["rows"] == [] and other["total"]["total"] == 0


def test_it_serves_the_schema_and_the_docs(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_a_status_change_and_a_detail_answer_cost_a_fixed_number_of_queries(world):
    """Pinned at the measured values: the token's query carries the user's unit; the move
    locks the case with what it writes and answers, saves the move with the chain head in one
    UPDATE and checks every addressee's scope in one query (reminders.events)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    case = world.case(world.unit_a, owner=world.inspector_a, checklist=["一"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(world.inspector_a)}")
    with CaptureQueriesContext(connection) as detail:
        assert client.get(f"/api/v1/cases/{case.pk}/").status_code == 200
    client.post(f"/api/v1/cases/{case.pk}/transitions/", {"to": "in_progress"}, format="json")
    with CaptureQueriesContext(connection) as move:
        response = client.post(
            f"/api/v1/cases/{case.pk}/transitions/",
            {"to": "escalated", "note": "须上级协调"},
            format="json",
        )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "escalated"
    assert response.json()["checklist"][0]["text"] == "一"
    assert CaseEvent.objects.filter(case=case, to_status="escalated").count() == 1
    assert (len(detail.captured_queries), len(move.captured_queries)) == (3, 13)
