"""Separation of duties (cases.rules), in the API, the pages, the bulk action and the import.

- The person who submitted a case, and anyone of its responsible unit (the unit or a unit
  under it), never verify and close it (nor exempt it): 403 `separation_of_duties`.
- A supervisor makes the unit's moves (start, submit, escalate, resume) only on cases of their
  own unit or a unit under it: 403 `not_own_unit`.
Every refusal leaves the case, its history and its checklist as they were.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from rest_framework.test import APIClient

from cases import rules, services
from cases.errors import Forbidden
from cases.models import Case, CaseEvent, CheckPoint
from cases.rules import NotOwnUnit, SeparationOfDuties
from cases.workflow import MOVES, Status
from ledgers import services as ledger_services
from ledgers.models import Job
from tests.factories import World, drive_to, make_user
from tests.ledgers.helpers import edit, export_bytes, preview

pytestmark = pytest.mark.django_db

SOD = "提交销号申请的人员及责任单位人员不能验收销号本问题。"


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def county_supervisor(world: World) -> Any:
    """A supervisor of 甲县 (the county's government): 甲县局 is under it, so they may make
    its moves, but they are not of 甲县局."""
    return make_user(world.county_a, "supervisor", "county_gov_supervisor")


def stored(case: Case) -> tuple[Any, ...]:
    row = Case.objects.get(pk=case.pk)
    return (
        row.status,
        row.updated_at,
        row.closed_at,
        CaseEvent.objects.filter(case=case).count(),
        list(CheckPoint.objects.filter(case=case).values_list("confirmed", "note")),
    )


def submitted_by(user: Any, world: World, **kwargs: Any) -> Case:
    case = world.case(**kwargs)
    services.case_transition(actor=user, case_id=case.pk, to="in_progress")
    services.case_transition(actor=user, case_id=case.pk, to="submitted", note="申请销号")
    return Case.objects.get(pk=case.pk)


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def close_by_api(user: Any, case: Case, **payload: Any) -> Any:
    payload = {"to": "completed", "note": "验收", **payload}
    return api(user).post(f"/api/v1/cases/{case.pk}/transitions/", payload, format="json")


# --- The submitter -------------------------------------------------------------------------


def test_the_submitter_cannot_close_in_the_api_and_nothing_is_stored(world, county_supervisor):
    case = submitted_by(county_supervisor, world, checklist=["窗口是否运行"])
    point = case.checklist.get()
    before = stored(case)
    response = close_by_api(county_supervisor, case, confirm=[point.pk])
    assert response.status_code == 403
    body = response.json()
    assert (body["status"], body["code"], body["message"]) == (403, "separation_of_duties", SOD)
    assert stored(case) == before


def test_the_submitter_is_the_latest_submit_not_an_earlier_one(world, county_supervisor):
    case = submitted_by(county_supervisor, world)
    services.case_transition(actor=world.supervisor, case_id=case.pk, to="in_progress", note="退")
    services.case_transition(actor=world.inspector_a, case_id=case.pk, to="submitted", note="再报")
    # Submitted again by the unit's inspector: the county supervisor may verify it now.
    response = close_by_api(county_supervisor, case)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "completed"


def test_another_supervisor_can_close(world, county_supervisor):
    case = submitted_by(county_supervisor, world, checklist=["窗口是否运行"])
    response = close_by_api(world.supervisor, case, confirm=[case.checklist.get().pk])
    assert response.status_code == 200, response.content
    closing = CaseEvent.objects.filter(case=case, to_status="completed").get()
    assert closing.actor == world.supervisor


# --- The responsible unit -------------------------------------------------------------------


def test_a_unit_under_the_responsible_unit_is_of_it(world):
    """A supervisor of a unit under the responsible unit never sees its case (their scope is
    their own subtree), and the rule would refuse them too."""
    case = drive_to(world.case(), "submitted", world.supervisor)
    child = make_user(world.unit_a_child, "supervisor")
    move = MOVES[Status.SUBMITTED, Status.COMPLETED]
    assert isinstance(rules.refusal(child, case, move), SeparationOfDuties)
    assert rules.refusal(world.supervisor, case, move) is None
    assert rules.of_unit(child, case) and not rules.over_unit(child, case)
    dept = world.dept_supervisor
    assert rules.over_unit(dept, case) and rules.of_unit(dept, case)


def test_no_one_of_the_responsible_unit_closes_or_exempts(world):
    """The unit's own supervisor is refused though another person (the unit's inspector)
    submitted."""
    user = world.dept_supervisor
    case = drive_to(world.case(), "submitted", world.supervisor)
    assert CaseEvent.objects.get(case=case, to_status="submitted").actor == world.inspector_a
    before = stored(case)
    with pytest.raises(SeparationOfDuties) as refused:
        services.case_transition(actor=user, case_id=case.pk, to="completed", note="验收")
    assert refused.value.message == SOD and refused.value.status_code == 403
    with pytest.raises(SeparationOfDuties):
        services.case_transition(actor=user, case_id=case.pk, to="exempted", note="负面清单")
    assert stored(case) == before
    # Returning it is not verifying it: the unit's supervisor may send it back.
    services.case_transition(actor=user, case_id=case.pk, to="in_progress", note="再完善")


def test_the_unit_supervisor_makes_the_units_moves(world):
    case = world.case()
    for target in ("in_progress", "escalated", "in_progress", "submitted"):
        services.case_transition(
            actor=world.dept_supervisor, case_id=case.pk, to=target, note="本单位办理"
        )
    assert Case.objects.get(pk=case.pk).status == "submitted"


# --- A supervisor of another unit ------------------------------------------------------------


@pytest.mark.parametrize("who", ["supervisor", "county_a_supervisor", "admin"])
@pytest.mark.parametrize(
    ("source", "target"),
    [("open", "in_progress"), ("in_progress", "submitted"), ("open", "escalated"),
     ("escalated", "open")],
)  # fmt: skip
def test_a_supervisor_of_another_unit_makes_none_of_the_units_moves(world, who, source, target):
    case = drive_to(
        world.case(), "escalated" if source == "escalated" else source, world.supervisor
    )
    user = getattr(world, who)
    before = stored(case)
    response = api(user).post(
        f"/api/v1/cases/{case.pk}/transitions/", {"to": target, "note": "代办"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "not_own_unit"
    assert "甲县局" in response.json()["message"]
    assert stored(case) == before
    with pytest.raises(NotOwnUnit):
        services.case_transition(actor=user, case_id=case.pk, to=target, note="代办")


def test_the_rules_are_forbidden_errors_of_their_own_codes():
    assert issubclass(SeparationOfDuties, Forbidden) and issubclass(NotOwnUnit, Forbidden)
    assert (SeparationOfDuties.code, NotOwnUnit.code) == ("separation_of_duties", "not_own_unit")


# --- The pages ---------------------------------------------------------------------------


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_why_and_offers_no_close_to_the_submitter(world, county_supervisor):
    case = submitted_by(county_supervisor, world)
    page = signed_in(county_supervisor).get(f"/cases/{case.pk}/").content.decode()
    assert SOD in page
    assert 'value="completed"' not in page
    assert 'value="in_progress"' in page  # returning is still offered
    # Another supervisor is offered the close and sees no refusal.
    page = signed_in(world.supervisor).get(f"/cases/{case.pk}/").content.decode()
    assert 'value="completed"' in page and SOD not in page


def test_the_page_refuses_a_forced_close_with_403_and_the_message(world, county_supervisor):
    case = submitted_by(county_supervisor, world)
    before = stored(case)
    response = signed_in(county_supervisor).post(
        f"/cases/{case.pk}/transition/", {"to": "completed", "note": "验收"}
    )
    assert response.status_code == 403
    assert SOD in response.content.decode()
    assert stored(case) == before


def test_the_page_offers_a_commission_supervisor_no_unit_moves(world):
    case = world.case()
    page = signed_in(world.supervisor).get(f"/cases/{case.pk}/").content.decode()
    assert 'value="in_progress"' not in page and 'value="escalated"' not in page
    assert 'value="exempted"' in page
    assert "监督人员不能代为办理" in page
    page = signed_in(world.inspector_a).get(f"/cases/{case.pk}/").content.decode()
    assert 'value="in_progress"' in page and "监督人员不能代为办理" not in page


# --- Bulk close ---------------------------------------------------------------------------


def test_bulk_close_closes_the_allowed_and_reports_the_refused(world, county_supervisor):
    by_inspector = drive_to(world.case(), "submitted", world.supervisor)
    own = submitted_by(county_supervisor, world)
    unchecked = drive_to(world.case(checklist=["窗口是否运行"]), "submitted", world.supervisor)
    before = {case.pk: stored(case) for case in (own, unchecked)}
    client = signed_in(county_supervisor)
    response = client.post(
        "/cases/bulk/",
        {"action": "close", "cases": [by_inspector.pk, own.pk, unchecked.pk], "note": "批量验收"},
    )
    assert response.status_code == 302
    texts = [str(message) for message in get_messages(response.wsgi_request)]
    assert "已验收销号 1 个问题。" in texts
    assert f"{own.code} 未销号：{SOD}" in texts
    assert any(t.startswith(f"{unchecked.code} 未销号：销号前须确认全部验收要点") for t in texts)
    assert Case.objects.get(pk=by_inspector.pk).status == "completed"
    assert {case.pk: stored(case) for case in (own, unchecked)} == before


# --- The ledger import --------------------------------------------------------------------


def test_an_import_closing_a_case_its_importer_submitted_is_refused(world, county_supervisor):
    case = submitted_by(county_supervisor, world)
    data = edit(export_bytes(county_supervisor), case.code, 整改状态="已销号")
    before = stored(case)
    job = preview(county_supervisor, data)
    assert [(p["code"], p["column"], p["message"]) for p in job.problems] == [
        (case.code, "整改状态", SOD)
    ]
    assert stored(case) == before
    # Another supervisor's import of the same file closes it.
    job = ledger_services.import_job_confirm(
        actor=world.supervisor, job_id=preview(world.supervisor, data).pk
    )
    assert job.status == Job.Status.DONE
    assert Case.objects.get(pk=case.pk).status == "completed"


def test_an_import_does_not_make_the_units_moves_for_it(world):
    case = world.case()
    job = preview(world.supervisor, edit(export_bytes(world.supervisor), case.code,
                                         整改状态="待验收"))  # fmt: skip
    [problem] = job.problems
    assert problem["column"] == "整改状态" and "监督人员不能代为办理" in problem["message"]
    assert Case.objects.get(pk=case.pk).status == "open"
