"""Extension requests (延期申请): the unit asks, a supervisor of the supervising side approves
or refuses, every extension is counted and capped in one place; the API contract, the pages,
scope, and two supervisors deciding at once."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from cases import extensions, services
from cases.errors import Conflict, Forbidden, InvalidInput
from cases.models import Case, CaseEvent, ExtensionRequest, Inspection
from cases.workflow import ExtensionCapReached
from tests.factories import World, api_key, days, drive_to, make_user

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def ask(user: Any, case: Case, deadline: Any = None, reason: str = "项目审批需要时间") -> Any:
    return client_for(user).post(
        f"/api/v1/cases/{case.pk}/extension-requests/",
        {"deadline": (deadline or days(60)).isoformat(), "reason": reason},
        format="json",
    )


def decide(user: Any, request_id: int, approve: bool, note: str = "") -> Any:
    return client_for(user).post(
        f"/api/v1/extension-requests/{request_id}/decision/",
        {"approve": approve, "note": note},
        format="json",
    )


def cap(inspection: Inspection, limit: int | None) -> None:
    # The inspection's registration page (another part) sets it; here, directly.
    Inspection.objects.filter(pk=inspection.pk).update(max_extensions=limit)


@pytest.fixture
def case(world: World) -> Case:
    return drive_to(world.case(world.unit_a, deadline=days(30)), "in_progress", world.inspector_a)


# --- Request and decide -----------------------------------------------------------------------


def test_it_lets_the_unit_request_and_a_supervisor_approve(world, case):
    asked = ask(world.inspector_a, case, days(60))
    assert asked.status_code == 201, asked.json()
    body = asked.json()
    assert body["status"] == "pending" and body["deadline"] == days(60).isoformat()
    assert body["current_deadline"] == days(30).isoformat()
    assert body["requested_by"]["username"] == "inspector_a"
    assert CaseEvent.objects.filter(case=case, kind="extension").count() == 1

    decided = decide(world.supervisor, body["id"], True, "同意")
    assert decided.status_code == 200, decided.json()
    assert decided.json()["status"] == "approved"
    assert decided.json()["decided_by"]["username"] == "supervisor"
    case.refresh_from_db()
    assert case.deadline == days(60) and case.extensions == 1
    row = case.events.filter(kind="deadline").get()
    assert row.deadline == days(60) and "项目审批需要时间" in row.note and "同意" in row.note
    shown = client_for(world.inspector_a).get(f"/api/v1/cases/{case.pk}/").json()
    assert shown["extensions"] == 1


def test_it_records_a_refusal_with_its_note_and_keeps_the_deadline(world, case):
    request_id = ask(world.inspector_a, case).json()["id"]
    no_note = decide(world.supervisor, request_id, False)
    assert no_note.status_code == 400 and "note" in no_note.json()["fields"]
    assert ExtensionRequest.objects.get(pk=request_id).status == "pending"

    refused = decide(world.supervisor, request_id, False, "理由不充分")
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    case.refresh_from_db()
    assert case.deadline == days(30) and case.extensions == 0
    row = case.events.filter(kind="extension").order_by("-seq").first()
    assert row.note == "理由不充分"
    assert row.changes["extension_request"] == ["pending", "refused"]
    # Decided: another decision is a conflict, and a new request may be made.
    again = decide(world.supervisor, request_id, True)
    assert again.status_code == 409 and again.json()["code"] == "extension_decided"
    assert ask(world.inspector_a, case).status_code == 201


def test_a_second_pending_request_is_a_conflict(world, case):
    assert ask(world.inspector_a, case).status_code == 201
    second = ask(world.dept_supervisor, case, days(90))
    assert second.status_code == 409, second.json()
    assert second.json()["code"] == "extension_pending"
    assert set(second.json()) == {"status", "code", "message", "fields"}
    assert ExtensionRequest.objects.filter(case=case).count() == 1


def test_the_database_refuses_two_pending_requests_even_past_the_service(world, case):
    from django.db import IntegrityError, transaction

    ask(world.inspector_a, case)
    with pytest.raises(IntegrityError), transaction.atomic():
        ExtensionRequest.objects.create(
            case=case,
            current_deadline=case.deadline,
            deadline=days(99),
            reason="x",
            requested_by=world.inspector_a,
        )


@pytest.mark.parametrize(
    ("deadline", "reason", "field"),
    [(-5, "理由", "deadline"), (0, "理由", "deadline"), (60, "   ", "reason")],
)
def test_it_refuses_bad_input_with_the_field_and_stores_nothing(
    world, case, deadline, reason, field
):
    answer = ask(world.inspector_a, case, days(30 + deadline), reason)
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()["fields"]
    assert not ExtensionRequest.objects.exists()
    missing = client_for(world.inspector_a).post(
        f"/api/v1/cases/{case.pk}/extension-requests/", {"reason": "x"}, format="json"
    )
    assert missing.status_code == 400 and "deadline" in missing.json()["fields"]


def test_a_done_case_takes_no_request(world):
    done = drive_to(world.case(world.unit_a), "completed", world.supervisor)
    answer = ask(world.inspector_a, done)
    assert answer.status_code == 409
    assert not ExtensionRequest.objects.exists()


# --- The cap: one rule, every path ------------------------------------------------------------


def test_the_cap_counts_direct_extensions_and_approved_requests_alike(world, case):
    cap(world.inspection, 2)
    sup = client_for(world.supervisor)
    direct = sup.patch(
        f"/api/v1/cases/{case.pk}/", {"deadline": days(40).isoformat(), "reason": "直接延期"},
        format="json",
    )  # fmt: skip
    assert direct.status_code == 200 and direct.json()["extensions"] == 1
    request_id = ask(world.inspector_a, case, days(50)).json()["id"]
    assert decide(world.supervisor, request_id, True).status_code == 200
    case.refresh_from_db()
    assert case.extensions == 2
    # At the cap: a direct extension, a request, and the bulk action are all refused.
    beyond = sup.patch(
        f"/api/v1/cases/{case.pk}/", {"deadline": days(70).isoformat(), "reason": "再延"},
        format="json",
    )  # fmt: skip
    assert beyond.status_code == 409 and beyond.json()["code"] == "extension_cap_reached"
    refused = ask(world.inspector_a, case, days(70))
    assert refused.status_code == 409 and refused.json()["code"] == "extension_cap_reached"
    with pytest.raises(ExtensionCapReached):
        services.case_extend_deadline(
            actor=world.supervisor, case_id=case.pk, deadline=days(80), reason="x"
        )
    case.refresh_from_db()
    assert (case.deadline, case.extensions) == (days(50), 2)
    assert not ExtensionRequest.objects.filter(status="pending").exists()
    # An earlier deadline is an adjustment, not an extension: neither counted nor capped.
    services.case_extend_deadline(
        actor=world.supervisor, case_id=case.pk, deadline=days(45), reason="提前"
    )
    case.refresh_from_db()
    assert (case.deadline, case.extensions) == (days(45), 2)


def test_a_request_made_below_the_cap_is_refused_on_approval_once_it_is_reached(world, case):
    cap(world.inspection, 1)
    request_id = ask(world.inspector_a, case, days(60)).json()["id"]
    services.case_extend_deadline(
        actor=world.supervisor, case_id=case.pk, deadline=days(40), reason="直接延期"
    )
    answer = decide(world.supervisor, request_id, True)
    assert answer.status_code == 409 and answer.json()["code"] == "extension_cap_reached"
    assert ExtensionRequest.objects.get(pk=request_id).status == "pending"
    case.refresh_from_db()
    assert (case.deadline, case.extensions) == (days(40), 1)
    # The supervisor may still refuse it.
    assert decide(world.supervisor, request_id, False, "已达上限").status_code == 200


def test_no_cap_means_no_limit(world, case):
    cap(world.inspection, None)
    for n in range(1, 4):
        services.case_extend_deadline(
            actor=world.supervisor, case_id=case.pk, deadline=days(30 + n), reason="延期"
        )
    case.refresh_from_db()
    assert case.extensions == 3


def test_the_bulk_action_respects_the_cap(world, case):
    cap(world.inspection, 0)
    client = APIClient()
    client.force_login(world.supervisor)
    answer = client.post(
        "/cases/bulk/",
        {"action": "extend", "cases": [case.pk], "deadline": days(90).isoformat(), "note": "批量"},
        follow=True,
    )
    assert "上限" in answer.content.decode()
    case.refresh_from_db()
    assert (case.deadline, case.extensions) == (days(30), 0)


# --- Who may -----------------------------------------------------------------------------------


def test_another_units_inspector_can_neither_request_nor_see(world, case):
    request_id = ask(world.inspector_a, case).json()["id"]
    other = client_for(world.inspector_b)
    hidden = ask(world.inspector_b, case)
    missing = ask(world.inspector_b, Case(pk=987_654_321))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert other.get(f"/api/v1/cases/{case.pk}/extension-requests/").status_code == 404
    assert other.get("/api/v1/extension-requests/").json()["count"] == 0
    assert other.get("/api/v1/extension-requests/", {"case": case.pk}).json()["results"] == []
    assert decide(world.inspector_b, request_id, True).status_code == 404
    assert ExtensionRequest.objects.count() == 1


def test_an_inspector_cannot_decide_and_the_unit_side_cannot_approve_its_own(world, case):
    request_id = ask(world.inspector_a, case).json()["id"]
    assert decide(world.inspector_a, request_id, True).status_code == 403
    # A supervisor of the responsible unit itself, and a county commission that does not
    # supervise this case, are not the supervising side.
    assert decide(world.dept_supervisor, request_id, True).status_code == 403
    assert decide(world.county_a_supervisor, request_id, True).status_code == 403
    assert decide(world.supervisor, 987_654_321, True).status_code == 404
    assert ExtensionRequest.objects.get(pk=request_id).status == "pending"
    case.refresh_from_db()
    assert case.extensions == 0


def test_a_supervisor_outside_the_unit_cannot_request(world, case):
    answer = ask(world.supervisor, case)
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    # A supervisor of the responsible unit (its leadership) may.
    assert ask(world.dept_supervisor, case).status_code == 201


def test_an_api_reader_token_reads_and_never_writes(world, case):
    request_id = ask(world.inspector_a, case).json()["id"]
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Token {api_key(world.api_reader)}")
    assert reader.get("/api/v1/extension-requests/").json()["count"] == 1
    assert reader.get(f"/api/v1/cases/{case.pk}/extension-requests/").status_code == 200
    url = f"/api/v1/cases/{case.pk}/extension-requests/"
    body = {"deadline": days(90).isoformat(), "reason": "x"}
    assert reader.post(url, body, format="json").status_code == 403
    decision = f"/api/v1/extension-requests/{request_id}/decision/"
    assert reader.post(decision, {"approve": True}, format="json").status_code == 403
    assert ExtensionRequest.objects.get(pk=request_id).status == "pending"
    anonymous = APIClient()
    assert anonymous.get("/api/v1/extension-requests/").status_code == 401
    assert anonymous.post(decision, {"approve": True}, format="json").status_code == 401


def test_the_service_refuses_with_domain_errors(world, case):
    with pytest.raises(Forbidden):
        extensions.extension_request_create(
            actor=world.api_reader, case_id=case.pk, deadline=days(60), reason="x"
        )
    request = extensions.extension_request_create(
        actor=world.inspector_a, case_id=case.pk, deadline=days(60), reason="x"
    )
    with pytest.raises(InvalidInput):
        extensions.extension_request_decide(actor=world.supervisor, request_id=request.pk,
                                            approve=False, note=" ")  # fmt: skip
    extensions.extension_request_decide(actor=world.admin, request_id=request.pk, approve=True)
    with pytest.raises(Conflict):
        extensions.extension_request_decide(actor=world.supervisor, request_id=request.pk,
                                            approve=True)  # fmt: skip


# --- Lists ---------------------------------------------------------------------------------------


def test_the_list_filters_and_paginates(world, case):
    other = drive_to(world.case(world.unit_b), "in_progress", world.inspector_b)
    first = ask(world.inspector_a, case).json()["id"]
    decide(world.supervisor, first, False, "不同意")
    second = ask(world.inspector_a, case).json()["id"]
    third = ask(world.inspector_b, other).json()["id"]
    sup = client_for(world.supervisor)

    def ids(**params: Any) -> set[int]:
        body = sup.get("/api/v1/extension-requests/", params).json()
        assert {"count", "next", "previous", "results"} <= set(body)
        return {row["id"] for row in body["results"]}

    assert ids() == {first, second, third}
    assert ids(status="pending") == {second, third}
    assert ids(status="refused") == {first}
    assert ids(case=case.pk) == {first, second}
    assert ids(inspection=world.inspection.pk) == {first, second, third}
    assert ids(inspection=world.restricted.pk) == set()
    assert ids(responsible_unit=world.county_a.pk) == {first, second}  # with its subtree
    assert ids(responsible_unit=world.unit_b.pk) == {third}
    assert sup.get("/api/v1/extension-requests/", {"status": "nope"}).status_code == 400
    page = sup.get("/api/v1/extension-requests/", {"page_size": 1}).json()
    assert page["count"] == 3 and len(page["results"]) == 1 and page["next"]
    listed = sup.get(f"/api/v1/cases/{case.pk}/extension-requests/").json()
    assert [row["id"] for row in listed] == [second, first]  # newest first


def test_the_schema_documents_the_contract():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    create = paths["/api/v1/cases/{case_id}/extension-requests/"]["post"]
    assert {"201", "400", "403", "404", "409"} <= set(create["responses"])
    decision = paths["/api/v1/extension-requests/{request_id}/decision/"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(decision["responses"])
    listed = paths["/api/v1/extension-requests/"]["get"]
    names = {p["name"] for p in listed["parameters"]}
    assert {"status", "case", "inspection", "responsible_unit", "page", "page_size"} <= names
    assert "/api/v1/inbox/" in paths


# --- Pages ---------------------------------------------------------------------------------------


def page_client(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_the_unit_requests_and_the_supervisor_decides_in_the_pages(world, case):
    unit = page_client(world.inspector_a)
    shown = unit.get(f"/cases/{case.pk}/").content.decode()
    assert 'id="extension-count"' in shown and "提交延期申请" in shown
    posted = unit.post(
        f"/cases/{case.pk}/extension-requests/",
        {"deadline": days(60).isoformat(), "reason": "页面申请"},
    )
    assert posted.status_code == 302
    request = ExtensionRequest.objects.get()
    waiting = unit.get(f"/cases/{case.pk}/").content.decode()
    assert "等待监督单位审批" in waiting and "同意延期" not in waiting

    sup = page_client(world.supervisor)
    page = sup.get(f"/cases/{case.pk}/").content.decode()
    assert "页面申请" in page and "同意延期" in page
    refused = sup.post(f"/extension-requests/{request.pk}/decision/", {"approve": "0"})
    assert refused.status_code == 400
    assert "不同意延期须填写审批意见" in refused.content.decode()
    approved = sup.post(f"/extension-requests/{request.pk}/decision/", {"approve": "1"})
    assert approved.status_code == 302
    case.refresh_from_db()
    assert (case.deadline, case.extensions) == (days(60), 1)
    again = sup.post(f"/extension-requests/{request.pk}/decision/", {"approve": "1"})
    assert again.status_code == 400 and "不能重复审批" in again.content.decode()
    listed = sup.get("/cases/").content.decode()
    assert "已延期 1 次" in listed


def test_the_pages_refuse_a_duplicate_and_strangers(world, case):
    unit = page_client(world.inspector_a)
    form = {"deadline": days(60).isoformat(), "reason": "理由"}
    assert unit.post(f"/cases/{case.pk}/extension-requests/", form).status_code == 302
    duplicate = page_client(world.dept_supervisor).post(
        f"/cases/{case.pk}/extension-requests/", form
    )
    assert duplicate.status_code == 400 and "待审批的延期申请" in duplicate.content.decode()
    request = ExtensionRequest.objects.get()
    stranger = page_client(world.inspector_b)
    assert stranger.post(f"/cases/{case.pk}/extension-requests/", form).status_code == 404
    decision = f"/extension-requests/{request.pk}/decision/"
    assert stranger.post(decision, {"approve": "1"}).status_code == 404
    inspector = unit.post(f"/extension-requests/{request.pk}/decision/", {"approve": "1"})
    assert inspector.status_code == 400 and "无权" in inspector.content.decode()
    assert ExtensionRequest.objects.get().status == "pending"


# --- Two supervisors at once -------------------------------------------------------------------


def race(calls: list[Any]) -> list[str]:
    """Run each call in its own thread (its own database connection), released together;
    "ok" or the conflict's code for each."""
    from django.db import connections

    start = threading.Barrier(len(calls))
    answers: list[str] = [""] * len(calls)

    def run(index: int) -> None:
        try:
            start.wait(timeout=10)
            calls[index]()
            answers[index] = "ok"
        except Conflict as error:
            answers[index] = error.code
        except Exception as error:  # reported by the caller's assertion
            answers[index] = repr(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_supervisors_deciding_at_once_make_one_decision(world):
    case = drive_to(world.case(world.unit_a, deadline=days(30)), "in_progress", world.inspector_a)
    second = make_user(world.commission, "supervisor", "supervisor_2")
    for attempt in range(3):  # each round a fresh request, both supervisors racing for it
        request = extensions.extension_request_create(
            actor=world.inspector_a, case_id=case.pk, deadline=days(40 + attempt), reason="并发"
        )
        deciding = partial(extensions.extension_request_decide, request_id=request.pk, note="并发")
        answers = race(
            [
                partial(deciding, actor=world.supervisor, approve=True),
                partial(deciding, actor=second, approve=attempt % 2 == 0),
            ]
        )
        assert sorted(answers) == ["extension_decided", "ok"], answers
        request.refresh_from_db()
        assert request.status in {"approved", "refused"}
    case.refresh_from_db()
    approvals = ExtensionRequest.objects.filter(case=case, status="approved").count()
    assert case.extensions == approvals
    assert case.events.filter(kind="deadline").count() == approvals
    decisions = case.events.filter(kind="extension", changes__extension_request__1="refused")
    assert decisions.count() + approvals == 3


def test_the_sides_of_a_case_in_hand_are_the_sides_of_the_lists(world):
    """`on_unit_side` / `on_supervising_side` (one case, no query) answer as the filters
    `unit_side` / `supervising_side` (the inbox's lists) do, for everyone on every case."""
    people = [
        world.supervisor, world.api_reader, world.inspector_a, world.inspector_a_child,
        world.inspector_b, world.county_a_supervisor, world.dept_supervisor,
        world.city_dept_supervisor, world.no_unit, world.admin,
    ]  # fmt: skip
    places = [world.unit_a, world.unit_a_child, world.unit_b, world.city_dept, world.county_a]
    cases = [world.case(unit) for unit in places]
    cases.append(world.case(world.unit_a, owner=world.inspector_a_child))  # owned below the unit
    ids = [case.pk for case in cases]
    read = Case.objects.select_related("responsible_unit", "supervising_unit").filter(pk__in=ids)
    answers = {"unit": set(), "supervising": set()}
    for person in people:
        for case in read:
            if extensions.on_unit_side(person, case):
                answers["unit"].add((person.pk, case.pk))
            if extensions.on_supervising_side(person, case):
                answers["supervising"].add((person.pk, case.pk))
    in_sql = {"unit": set(), "supervising": set()}
    for person in people:
        for side, rule in (
            ("unit", extensions.unit_side),
            ("supervising", extensions.supervising_side),
        ):
            found = Case.objects.filter(rule(person), pk__in=ids).values_list("pk", flat=True)
            in_sql[side] |= {(person.pk, pk) for pk in found}
    assert answers == in_sql
    assert answers["unit"] and answers["supervising"]  # both sides hold someone
