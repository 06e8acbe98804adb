"""Who looked at what: views of restricted cases, evidence downloads and refused accesses are
recorded, in the pages and the API; the audit page is for a commission's supervisors and
the operators only, scoped to the commission's jurisdiction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from audit.services import audit_record
from tests.factories import add_evidence, api_key, make_user

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    return client


def entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("seq"))


@pytest.fixture
def clue(world):
    return world.case(inspection=world.restricted, title="线索")


# --- Restricted cases and evidence -----------------------------------------------------------


def test_it_records_who_viewed_a_restricted_case_page(world, clue):
    response = logged_in(world.supervisor).get(f"/cases/{clue.pk}/", REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 200
    [entry] = entries(Action.VIEW_RESTRICTED_CASE)
    assert entry.actor == world.supervisor and entry.case == clue
    assert entry.ip_address == "198.51.100.7"
    assert entry.path == f"/cases/{clue.pk}/"


def test_it_does_not_record_views_of_ordinary_cases(world):
    case = world.case()
    assert logged_in(world.supervisor).get(f"/cases/{case.pk}/").status_code == 200
    assert entries(Action.VIEW_RESTRICTED_CASE) == []


def test_it_records_who_read_a_restricted_case_in_the_api(world, clue):
    client = token_client(world.supervisor)
    assert client.get(f"/api/v1/cases/{clue.pk}/").status_code == 200
    assert client.get(f"/api/v1/cases/{clue.pk}/history/").status_code == 200
    found = entries(Action.VIEW_RESTRICTED_CASE)
    assert [(e.actor, e.case, e.path) for e in found] == [
        (world.supervisor, clue, f"/api/v1/cases/{clue.pk}/"),
        (world.supervisor, clue, f"/api/v1/cases/{clue.pk}/history/"),
    ]


def test_it_records_evidence_downloads_in_the_page_and_the_api(world):
    case = world.case()
    evidence = add_evidence(world.inspector_a, case, "报告.pdf", note="")
    page = logged_in(world.inspector_a).get(f"/cases/{case.pk}/evidence/{evidence.pk}/")
    b"".join(page.streaming_content)
    api = token_client(world.supervisor).get(
        f"/api/v1/cases/{case.pk}/evidence/{evidence.pk}/download/"
    )
    b"".join(api.streaming_content)
    assert (page.status_code, api.status_code) == (200, 200)
    found = entries(Action.DOWNLOAD_EVIDENCE)
    assert [(e.actor, e.case_id, e.target_id) for e in found] == [
        (world.inspector_a, case.pk, str(evidence.pk)),
        (world.supervisor, case.pk, str(evidence.pk)),
    ]
    assert found[0].changes["sha256"] == evidence.sha256


# --- Refused accesses --------------------------------------------------------------------------


def test_it_records_a_refused_api_access_with_the_actor_and_path(world, clue):
    response = token_client(world.inspector_b).get(f"/api/v1/cases/{clue.pk}/")
    assert response.status_code == 404
    [entry] = entries(Action.ACCESS_REFUSED)
    assert entry.actor == world.inspector_b
    assert entry.actor_unit == world.unit_b
    assert entry.path == f"/api/v1/cases/{clue.pk}/"
    assert entry.case == clue
    assert "404" in entry.note


def test_it_records_a_refused_page_and_a_refused_role(world, clue):
    client = logged_in(world.inspector_a)
    assert client.get(f"/cases/{clue.pk}/").status_code == 404
    assert client.get("/ledgers/import/").status_code == 403
    found = entries(Action.ACCESS_REFUSED)
    assert [(e.actor, e.path, e.case_id) for e in found] == [
        (world.inspector_a, f"/cases/{clue.pk}/", clue.pk),
        (world.inspector_a, "/ledgers/import/", None),
    ]


def test_it_records_a_missing_id_as_an_out_of_scope_one(world):
    response = logged_in(world.inspector_a).get("/cases/987654321/")
    assert response.status_code == 404
    [entry] = entries(Action.ACCESS_REFUSED)
    assert entry.case is None and entry.path == "/cases/987654321/"


def test_it_does_not_record_unknown_addresses_or_anonymous_callers(world, clue):
    assert logged_in(world.inspector_a).get("/no-such-page/").status_code == 404
    assert APIClient().get(f"/api/v1/cases/{clue.pk}/").status_code == 401
    assert Client().get(f"/cases/{clue.pk}/").status_code == 302
    assert entries(Action.ACCESS_REFUSED) == []


# --- The audit page ------------------------------------------------------------------------------


def test_it_shows_the_log_to_a_commission_supervisor(world, clue):
    logged_in(world.supervisor).get(f"/cases/{clue.pk}/")
    response = logged_in(world.supervisor).get("/audit/")
    assert response.status_code == 200
    assert "查看限定问题" in response.content.decode()
    rows = [row["entry"] for row in response.context["rows"]]
    assert rows == sorted(rows, key=lambda e: -e.seq)  # newest first
    assert rows[0].action == Action.VIEW_RESTRICTED_CASE


def test_it_shows_the_log_to_superusers(world):
    assert logged_in(world.admin).get("/audit/").status_code == 200


@pytest.mark.parametrize("who", ["inspector_a", "api_reader", "no_unit", "department_supervisor"])
def test_it_refuses_the_log_to_anyone_else(world, who):
    if who == "department_supervisor":
        user = make_user(world.city_dept, "supervisor", "dept_sup")
    else:
        user = getattr(world, who)
    response = logged_in(user).get("/audit/")
    assert response.status_code == 403
    assert "access_refused" in set(AuditEntry.objects.values_list("action", flat=True))


def test_it_sends_anonymous_callers_to_the_login_page(world):
    response = Client().get("/audit/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_does_not_record_reading_the_log(world):
    before = AuditEntry.objects.count()
    logged_in(world.supervisor).get("/audit/")
    logged_in(world.supervisor).get("/audit/?page=2")
    assert AuditEntry.objects.count() == before


def test_it_scopes_the_log_to_the_commissions_jurisdiction(world):
    """甲县纪委监委 reads what 甲县's people did and what was done to 甲县's units; not 乙县's,
    and not an entry about a case it may not see."""
    county = world.county_a_supervisor
    mine = audit_record(actor=world.inspector_a, action=Action.UNIT_UPDATE, target=world.unit_a)
    to_mine = audit_record(actor=world.admin, action=Action.UNIT_UPDATE, target=world.unit_a)
    theirs = audit_record(actor=world.inspector_b, action=Action.UNIT_UPDATE, target=world.unit_b)
    city_case = world.case(world.city_dept)
    hidden_case = audit_record(
        actor=world.inspector_a, action=Action.ACCESS_REFUSED, case=city_case
    )
    response = logged_in(county).get("/audit/")
    shown = {row["entry"].pk for row in response.context["rows"]}
    assert {mine.pk, to_mine.pk} <= shown
    assert theirs.pk not in shown and hidden_case.pk not in shown
    # The city's commission sees them all.
    response = logged_in(world.supervisor).get("/audit/")
    shown = {row["entry"].pk for row in response.context["rows"]}
    assert {mine.pk, to_mine.pk, theirs.pk, hidden_case.pk} <= shown


def test_it_names_people_above_the_readers_scope_only_by_unit_and_role(world):
    audit_record(actor=world.supervisor, action=Action.UNIT_UPDATE, target=world.unit_a)
    response = logged_in(world.county_a_supervisor).get("/audit/")
    actor, _detail = response.context["rows"][0]["actor"]
    assert world.supervisor.username not in actor
    assert world.commission.name in actor


def test_it_filters_by_person_case_action_and_date(world, clue):
    logged_in(world.supervisor).get(f"/cases/{clue.pk}/")
    logged_in(world.inspector_a).get("/ledgers/import/")
    client = logged_in(world.supervisor)

    def shown(query: str) -> list[AuditEntry]:
        response = client.get(f"/audit/?{query}")
        assert response.status_code == 200
        return [row["entry"] for row in response.context["rows"]]

    by_person = shown(f"actor={world.inspector_a.pk}")
    assert by_person and {e.actor_id for e in by_person} == {world.inspector_a.pk}
    by_case = shown(f"case={clue.code}")
    assert [e.action for e in by_case] == [Action.VIEW_RESTRICTED_CASE]
    assert [e.action for e in shown("action=access_refused")] == [Action.ACCESS_REFUSED]
    today = timezone.localdate()
    assert shown(f"since={today}&until={today}")
    assert shown(f"until={today - timedelta(days=1)}") == []


def test_it_says_so_when_nothing_matches(world):
    response = logged_in(world.supervisor).get("/audit/?case=NO-SUCH-CODE")
    assert response.status_code == 200
    assert "没有符合筛选条件的审计记录。" in response.content.decode()


def test_it_answers_a_bad_filter_with_a_form_error(world):
    response = logged_in(world.supervisor).get(f"/audit/?actor={world.inspector_b.pk}0000")
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "筛选条件有误" in response.content.decode()
