"""`GET /api/v1/reminders/` scoped like cases for every persona, and
`POST /api/v1/cases/{id}/follow-up/` through the one follow-up service."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from reminders import services
from reminders.models import Reminder
from tests.factories import drive_to

from .conftest import TODAY

pytestmark = pytest.mark.django_db
API = "/api/v1"


@pytest.fixture
def scene(people, clock):
    """Five cases 15 days overdue (escalated to the commission's supervisor), reminded."""
    world = people
    late = TODAY - timedelta(days=15)
    cases = {
        "a": world.case(world.unit_a, deadline=late),
        "child": world.case(world.unit_a_child, deadline=late),
        "b": world.case(world.unit_b, deadline=late),
        "city": world.case(world.city_dept, deadline=late),
        "secret": world.case(world.unit_a, inspection=world.restricted, deadline=late),
    }
    services.sweep()
    assert set(Reminder.objects.values_list("case_id", flat=True)) == {c.pk for c in cases.values()}
    world.cases = cases
    return world


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def listed(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["case"] for row in response.json()["results"]}


EXPECTED = {
    "supervisor": {"a", "child", "b", "city", "secret"},
    "admin": {"a", "child", "b", "city", "secret"},
    "county_a_supervisor": {"a", "child", "secret"},
    "api_reader": {"a", "child", "b", "city"},
    "inspector_a": {"a", "child"},
    "inspector_a_child": {"child"},
    "inspector_b": {"b"},
    "no_unit": set(),
}


@pytest.mark.parametrize("persona", list(EXPECTED))
def test_it_lists_only_the_reminders_of_cases_in_scope(scene, persona):
    client = client_for(getattr(scene, persona))
    expected = {scene.cases[label].pk for label in EXPECTED[persona]}
    assert listed(client.get(f"{API}/reminders/", {"page_size": 200})) == expected
    for label, case in scene.cases.items():
        response = client.get(f"{API}/reminders/", {"case": case.pk})
        if label in EXPECTED[persona]:
            assert listed(response) == {case.pk}
        else:
            # The same answer as for a case that does not exist: no existence leak.
            assert response.status_code == 404
            assert response.json()["code"] == "not_found"


def test_it_answers_a_missing_case_and_an_anonymous_caller_in_the_error_shape(scene):
    response = client_for(scene.supervisor).get(f"{API}/reminders/", {"case": 99999999})
    assert response.status_code == 404 and set(response.json()) == {
        "status", "code", "message", "fields"
    }  # fmt: skip
    anonymous = APIClient().get(f"{API}/reminders/")
    assert anonymous.status_code == 401 and anonymous.json()["status"] == 401


@pytest.mark.parametrize(("params", "field"), [
    ({"case": "abc"}, "case"), ({"case": 0}, "case"), ({"case": 2**64}, "case"),
    ({"kind": "reminder"}, "kind"), ({"status": "done"}, "status"), ({"channel": "sms"}, "channel"),
])  # fmt: skip
def test_it_refuses_a_bad_query_parameter(scene, params, field):
    response = client_for(scene.supervisor).get(f"{API}/reminders/", params)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_it_describes_each_reminder(scene):
    case = scene.cases["a"]
    response = client_for(scene.inspector_a).get(
        f"{API}/reminders/", {"case": case.pk, "channel": "email"}
    )
    rows = response.json()["results"]
    # The escalation also reached the commission's supervisor, whom an inspector may not name.
    recipients = [row["recipient"]["username"] if row["recipient"] else None for row in rows]
    assert sorted(recipients, key=str) == sorted(["inspector_a", None], key=str)
    row = rows[0]
    assert set(row) == {
        "id", "case", "kind", "kind_display", "recipient", "unit", "channel", "channel_display",
        "window", "created_at", "sent_at", "status", "status_display",
    }  # fmt: skip
    assert (row["kind"], row["channel"], row["status"], row["sent_at"], row["unit"]) == (
        "escalation", "email", "pending", None, None,
    )  # fmt: skip
    assert row["window"] == f"{case.deadline.isoformat()}/e0"
    services.deliver()
    sent = client_for(scene.inspector_a).get(
        f"{API}/reminders/", {"case": case.pk, "status": "sent"}
    )
    assert len(sent.json()["results"]) == 4 and all(r["sent_at"] for r in sent.json()["results"])


# --- Follow-up ----------------------------------------------------------------------------


def test_it_follows_up_through_the_api_like_the_pages(scene):
    case = scene.cases["b"]
    response = client_for(scene.supervisor).post(
        f"{API}/cases/{case.pk}/follow-up/", {"note": "请于三日内报送"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["note"], body["actor"]["username"]) == (
        "follow_up", "请于三日内报送", "supervisor"
    )  # fmt: skip
    reminders = Reminder.objects.filter(case=case, kind="follow_up")
    assert {(r.recipient.username, r.channel) for r in reminders} == {
        ("inspector_b", "in_app"), ("inspector_b", "email")
    }  # fmt: skip
    assert {r.window for r in reminders} == {f"event-{body['id']}"}


@pytest.mark.parametrize(("persona", "label", "body", "status"), [
    ("inspector_a", "a", {"note": "越权"}, 403),
    ("api_reader", "a", {"note": "只读"}, 403),
    ("inspector_b", "a", {"note": "看不见"}, 404),
    ("supervisor", "a", {"note": "  "}, 400),
    ("supervisor", "a", {}, 400),
    ("supervisor", "done", {"note": "已办结"}, 409),
])  # fmt: skip
def test_it_refuses_a_follow_up_and_stores_nothing(scene, persona, label, body, status):
    if label == "done":
        scene.cases["done"] = drive_to(scene.case(scene.unit_a), "completed", scene.supervisor)
    case = scene.cases[label]
    before = Reminder.objects.count(), case.events.count()
    response = client_for(getattr(scene, persona)).post(
        f"{API}/cases/{case.pk}/follow-up/", body, format="json"
    )
    assert response.status_code == status
    assert response.json()["status"] == status
    assert (Reminder.objects.count(), case.events.count()) == before


def test_it_documents_both_operations_with_their_errors(scene):
    schema = json.loads(APIClient().get("/api/schema/", {"format": "json"}).content)
    listing = schema["paths"]["/api/v1/reminders/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"case", "kind", "channel", "status"}
    assert {"200", "400", "401", "403", "404", "429"} <= set(listing["responses"])
    follow_up = schema["paths"]["/api/v1/cases/{id}/follow-up/"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "415", "429"} <= set(follow_up["responses"])
    error = {"$ref": "#/components/schemas/Error"}
    assert follow_up["responses"]["409"]["content"]["application/json"]["schema"] == error
    assert listing["responses"]["404"]["content"]["application/json"]["schema"] == error


def test_it_names_only_the_recipients_the_caller_may_see(people, clock):
    from datetime import timedelta

    from rest_framework.test import APIClient

    from reminders import services

    world = people
    case = world.case(world.unit_a, deadline=clock_today() - timedelta(days=20))
    services.sweep()  # an escalation: reaches the commission's supervisor as well
    client = APIClient()
    client.force_authenticate(world.inspector_a)
    rows = client.get("/api/v1/reminders/", {"case": case.pk}).json()
    rows = rows["results"] if isinstance(rows, dict) else rows
    named = {row["recipient"]["username"] for row in rows if row["recipient"]}
    assert "supervisor" not in named and "inspector_a" in named
    assert any(row["recipient"] is None and row["channel"] != "webhook" for row in rows)
    client.force_authenticate(world.supervisor)
    rows = client.get("/api/v1/reminders/", {"case": case.pk}).json()
    rows = rows["results"] if isinstance(rows, dict) else rows
    assert {"supervisor", "inspector_a"} <= {
        r["recipient"]["username"] for r in rows if r["recipient"]
    }


def clock_today():
    from .conftest import TODAY

    return TODAY
