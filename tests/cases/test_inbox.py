"""The inboxes (待我验收, 待上级协调, 延期申请): what waits for whom, counts equal to the lists in
the API, the page and the top bar, a bounded number of queries, and a GET that writes
nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cases import extensions
from cases.inbox import KINDS, Inbox
from cases.models import CaseEvent, ExtensionRequest
from tests.factories import World, api_key, days, drive_to, make_inspection

pytestmark = pytest.mark.django_db


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def waiting_work(world: World) -> dict[str, set[int]]:
    """Two submitted and one escalated case of the city commission, two pending requests, and
    work of other supervising units and of the past (done, decided) that waits for nobody
    here."""
    # The unit's moves by the unit's people (separation of duties).
    submitted = [
        drive_to(world.case(world.unit_a), "submitted", world.inspector_a),
        drive_to(world.case(world.unit_b), "submitted", world.inspector_b),
    ]
    escalated = drive_to(world.case(world.unit_a_child), "escalated", world.inspector_a_child)
    asked = []
    for unit in (world.unit_a, world.unit_b):
        requester = world.inspector_a if unit == world.unit_a else world.inspector_b
        case = drive_to(world.case(unit), "in_progress", requester)
        asked.append(
            extensions.extension_request_create(
                actor=requester, case_id=case.pk, deadline=days(90), reason="申请"
            )
        )
    decided = drive_to(world.case(world.unit_a), "in_progress", world.inspector_a)
    old = extensions.extension_request_create(
        actor=world.inspector_a, case_id=decided.pk, deadline=days(90), reason="旧申请"
    )
    extensions.extension_request_decide(
        actor=world.supervisor, request_id=old.pk, approve=False, note="不同意"
    )
    drive_to(world.case(world.unit_a), "completed", world.supervisor)
    # 甲县纪委监委's own inspection: its cases wait for the county commission, not the city's.
    county_commission = world.county_a_supervisor.unit
    county = make_inspection(county_commission, code="T2023-C")
    drive_to(world.case(world.unit_a, inspection=county), "submitted", world.inspector_a)
    return {
        "to_verify": {case.pk for case in submitted},
        "escalated": {escalated.pk},
        "extension_requests": {request.pk for request in asked},
    }


def test_the_supervising_side_sees_exactly_its_waiting_work_and_counts_equal_lists(world):
    expected = waiting_work(world)
    box = Inbox(world.supervisor)
    for kind in KINDS:
        assert {row.pk for row in box.rows(kind)} == expected[kind], kind
        assert box.counts[kind] == len(expected[kind]), kind

    body = api(world.supervisor).get("/api/v1/inbox/").json()
    assert body["counts"] == {kind: len(ids) for kind, ids in expected.items()}
    for kind in KINDS:
        assert {row["id"] for row in body[kind]} == expected[kind], kind
        assert len(body[kind]) == body["counts"][kind]
    assert {row["case"]["id"] for row in body["extension_requests"]} <= {
        r.case_id for r in ExtensionRequest.objects.filter(status="pending")
    }

    client = page(world.supervisor)
    for kind in KINDS:
        response = client.get("/inbox/", {"tab": kind})
        assert response.status_code == 200
        assert {row.pk for row in response.context["page"].object_list} == expected[kind]
        assert dict((k, n) for k, _label, n in response.context["tabs"]) == body["counts"]
    total = sum(body["counts"].values())
    assert 'data-waiting="' not in client.get("/cases/").content.decode()  # asked for once loaded
    top_bar = client.get("/top-bar/").content.decode()
    assert f'data-waiting="{total}"' in top_bar


def test_the_county_commission_sees_its_own_and_nobody_else_has_an_inbox(world):
    waiting_work(world)
    county = Inbox(world.county_a_supervisor)
    assert county.counts == {"to_verify": 1, "escalated": 0, "extension_requests": 0}
    # The unit's side, readers and people without a role: nothing addressed to them, and the
    # top bar shows no inbox at all.
    for user in (world.inspector_a, world.dept_supervisor, world.api_reader, world.no_unit):
        assert Inbox(user).counts == dict.fromkeys(KINDS, 0), user.username
        body = api(user).get("/api/v1/inbox/").json()
        assert body["counts"] == dict.fromkeys(KINDS, 0)
        assert all(body[kind] == [] for kind in KINDS)
    html = page(world.inspector_a).get("/cases/").content.decode()
    assert 'href="/inbox/"' not in html
    # The dept supervisor is of the responsible unit: it never verifies its own cases.
    assert not Inbox(world.dept_supervisor).rows("to_verify").exists()


def test_an_api_reader_token_and_anonymous_callers(world):
    waiting_work(world)
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Token {api_key(world.api_reader)}")
    assert reader.get("/api/v1/inbox/").json()["counts"] == dict.fromkeys(KINDS, 0)
    assert APIClient().get("/api/v1/inbox/").status_code == 401
    anonymous = Client().get("/inbox/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_the_pages_show_empty_states_and_paginate(world, settings):
    client = page(world.supervisor)
    empty = client.get("/inbox/")
    html = empty.content.decode()
    assert 'id="inbox-empty"' in html and "没有等待您验收的问题" in html
    for kind in KINDS:
        assert 'id="inbox-empty"' in client.get("/inbox/", {"tab": kind}).content.decode()
    assert client.get("/inbox/", {"tab": "nonsense", "page": "x"}).status_code == 200

    from cases import extension_views

    for _ in range(3):
        drive_to(world.case(world.unit_a), "submitted", world.inspector_a)
    original = extension_views.PAGE_SIZE
    extension_views.PAGE_SIZE = 2
    try:
        first = client.get("/inbox/", {"tab": "to_verify"})
        second = client.get("/inbox/", {"tab": "to_verify", "page": 2})
    finally:
        extension_views.PAGE_SIZE = original
    assert len(first.context["page"].object_list) == 2
    assert len(second.context["page"].object_list) == 1
    assert "?tab=to_verify&amp;page=2" in first.content.decode()
    rows = {c.pk for c in first.context["page"].object_list} | {
        c.pk for c in second.context["page"].object_list
    }
    assert len(rows) == 3
    # Every row links to its case.
    for case in first.context["page"].object_list:
        assert f'href="/cases/{case.pk}/"' in first.content.decode()


def test_the_counts_cost_a_bounded_number_of_queries(world):
    def cost() -> int:
        with CaptureQueriesContext(connection) as queries:
            counts = Inbox(world.supervisor).counts
        assert counts
        return len(queries)

    few = cost()
    for _ in range(5):
        drive_to(world.case(world.unit_a), "submitted", world.inspector_a)
        drive_to(world.case(world.unit_b), "escalated", world.inspector_b)
    assert cost() == few == 1


def test_a_get_writes_nothing(world):
    waiting_work(world)
    before = (
        CaseEvent.objects.count(),
        list(ExtensionRequest.objects.values_list("pk", "status")),
    )
    client = page(world.supervisor)
    for url in ("/inbox/", "/inbox/?tab=escalated", "/inbox/?tab=extension_requests", "/cases/"):
        assert client.get(url).status_code == 200
    assert api(world.supervisor).get("/api/v1/inbox/").status_code == 200
    assert api(world.supervisor).get("/api/v1/extension-requests/").status_code == 200
    after = (
        CaseEvent.objects.count(),
        list(ExtensionRequest.objects.values_list("pk", "status")),
    )
    assert before == after


def test_deciding_from_the_inbox_empties_it(world):
    expected = waiting_work(world)
    for request_id in expected["extension_requests"]:
        answer = api(world.supervisor).post(
            f"/api/v1/extension-requests/{request_id}/decision/", {"approve": True}, format="json"
        )
        assert answer.status_code == 200
    assert Inbox(world.supervisor).counts["extension_requests"] == 0
