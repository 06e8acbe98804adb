"""The evidence rule (Inspection.requires_evidence, cases.rules): submitting needs at least one
evidence file on the case (400 `evidence_required` on `evidence`), closing needs every
verification point confirmed with a note (400 `checkpoint_note_required` on `notes`). The
transition API takes the notes as `notes` ({"<point id>": "note"}) beside `confirm`; the case
page has a note field per point; the import meets the same rule. Nothing is stored on refusal.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from cases import services
from cases.models import Case, CaseEvent, CheckPoint, Evidence, Inspection
from cases.rules import CheckpointNoteRequired, EvidenceRequired
from tests.factories import World, add_evidence, drive_to, make_inspection, pdf_upload
from tests.ledgers.helpers import edit, export_bytes, preview

pytestmark = pytest.mark.django_db

NEEDS_EVIDENCE = "该检查要求申请销号前上传佐证材料，请至少上传一份佐证材料。"


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def strict(world: World) -> Inspection:
    inspection = make_inspection(world.commission, code="T2023-E")
    Inspection.objects.filter(pk=inspection.pk).update(requires_evidence=True)
    inspection.refresh_from_db()
    return inspection


def stored(case: Case) -> tuple[Any, ...]:
    row = Case.objects.get(pk=case.pk)
    return (
        row.status,
        row.updated_at,
        CaseEvent.objects.filter(case=case).count(),
        Evidence.objects.filter(case=case).count(),
        list(CheckPoint.objects.filter(case=case).values_list("confirmed", "note")),
    )


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def move(user: Any, case: Case, **payload: Any) -> Any:
    return api(user).post(f"/api/v1/cases/{case.pk}/transitions/", payload, format="json")


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Submitting ------------------------------------------------------------------------------


def test_submitting_without_evidence_is_refused_with_400_on_evidence(world, strict):
    case = drive_to(world.case(inspection=strict), "in_progress", world.supervisor)
    before = stored(case)
    response = move(world.inspector_a, case, to="submitted", note="申请销号")
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["message"]) == ("evidence_required", NEEDS_EVIDENCE)
    assert body["fields"] == {"evidence": [NEEDS_EVIDENCE]}
    assert stored(case) == before


def test_submitting_with_evidence_on_the_case_or_uploaded_with_the_move(world, strict):
    attached = drive_to(world.case(inspection=strict), "in_progress", world.supervisor)
    add_evidence(world.inspector_a, attached)
    response = move(world.inspector_a, attached, to="submitted", note="申请销号")
    assert response.status_code == 200, response.content
    uploaded = drive_to(world.case(inspection=strict), "in_progress", world.supervisor)
    services.case_transition(
        actor=world.inspector_a, case_id=uploaded.pk, to="submitted", note="申请销号",
        evidence=[pdf_upload()],
    )  # fmt: skip
    assert Case.objects.get(pk=uploaded.pk).status == "submitted"


def test_the_page_refuses_a_submission_without_evidence_on_the_evidence_field(world, strict):
    case = drive_to(world.case(inspection=strict), "in_progress", world.supervisor)
    before = stored(case)
    client = signed_in(world.inspector_a)
    response = client.post(f"/cases/{case.pk}/transition/", {"to": "submitted", "note": "申请"})
    assert response.status_code == 400
    assert NEEDS_EVIDENCE in response.content.decode()
    assert stored(case) == before
    response = client.post(
        f"/cases/{case.pk}/transition/",
        {"to": "submitted", "note": "申请", "evidence": pdf_upload()},
    )
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).status == "submitted"


def test_an_inspection_without_the_rule_submits_without_evidence(world):
    case = drive_to(world.case(), "in_progress", world.supervisor)
    assert move(world.inspector_a, case, to="submitted", note="申请").status_code == 200


# --- Closing -------------------------------------------------------------------------------


def submitted(world: World, strict: Inspection) -> Case:
    case = world.case(inspection=strict, checklist=["窗口是否运行", "制度是否印发"])
    drive_to(case, "in_progress", world.supervisor)
    add_evidence(world.inspector_a, case)
    services.case_transition(
        actor=world.inspector_a, case_id=case.pk, to="submitted", note="申请销号"
    )
    return Case.objects.get(pk=case.pk)


def test_closing_needs_a_note_on_every_point(world, strict):
    case = submitted(world, strict)
    first, second = case.checklist.all()
    before = stored(case)
    response = move(
        world.supervisor, case, to="completed", confirm=[first.pk, second.pk],
        notes={str(first.pk): "窗口已运行"},
    )  # fmt: skip
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "checkpoint_note_required"
    assert "制度是否印发" in body["message"] and "窗口是否运行" not in body["message"]
    assert body["fields"] == {"notes": [body["message"]]}
    assert stored(case) == before
    response = move(
        world.supervisor, case, to="completed", confirm=[first.pk, second.pk],
        notes={str(first.pk): "窗口已运行", str(second.pk): " 制度已印发 "},
    )  # fmt: skip
    assert response.status_code == 200, response.content
    assert [(p["confirmed"], p["note"]) for p in response.json()["checklist"]] == [
        (True, "窗口已运行"),
        (True, "制度已印发"),
    ]
    event = CaseEvent.objects.get(case=case, kind="checklist")
    assert event.changes["notes"] == [
        None,
        {"窗口是否运行": "窗口已运行", "制度是否印发": "制度已印发"},
    ]


def test_a_blank_note_counts_as_none(world, strict):
    case = submitted(world, strict)
    points = list(case.checklist.values_list("pk", flat=True))
    with pytest.raises(CheckpointNoteRequired):
        services.case_transition(
            actor=world.supervisor, case_id=case.pk, to="completed", confirm=points,
            notes=dict.fromkeys(points, "   "),
        )  # fmt: skip


@pytest.mark.parametrize(
    "notes", [{"999999": "不属于该问题"}, {"abc": "键不是编号"}, {"1": "x" * 2001}]
)
def test_bad_notes_are_refused_with_400_on_notes(world, strict, notes):
    case = submitted(world, strict)
    before = stored(case)
    points = list(case.checklist.values_list("pk", flat=True))
    if "1" in notes:
        notes = {str(points[0]): notes["1"]}
    response = move(world.supervisor, case, to="completed", confirm=points, notes=notes)
    assert response.status_code == 400
    assert [field.split(".")[0] for field in response.json()["fields"]] == ["notes"]
    assert stored(case) == before


def test_the_confirm_contract_still_closes_without_notes_where_not_required(world):
    case = drive_to(world.case(checklist=["窗口是否运行"]), "submitted", world.supervisor)
    response = move(world.supervisor, case, to="completed", confirm=[case.checklist.get().pk])
    assert response.status_code == 200, response.content
    assert response.json()["checklist"][0] == {
        "id": case.checklist.get().pk, "text": "窗口是否运行", "confirmed": True, "note": ""
    }  # fmt: skip


def test_the_page_has_a_note_per_point_and_closes_with_them(world, strict):
    case = submitted(world, strict)
    first, second = case.checklist.all()
    client = signed_in(world.supervisor)
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert f'name="point_note_{first.pk}"' in page and f'name="point_note_{second.pk}"' in page
    before = stored(case)
    form = {"to": "completed", "note": "验收", "confirm": [first.pk, second.pk]}
    response = client.post(
        f"/cases/{case.pk}/transition/", {**form, f"point_note_{first.pk}": "好"}
    )
    assert response.status_code == 400
    assert "该检查要求逐条填写验收说明" in response.content.decode()
    assert stored(case) == before
    response = client.post(
        f"/cases/{case.pk}/transition/",
        {**form, f"point_note_{first.pk}": "窗口已运行", f"point_note_{second.pk}": "已印发"},
    )
    assert response.status_code == 302
    assert list(case.checklist.values_list("note", flat=True)) == ["窗口已运行", "已印发"]
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert "窗口已运行" in page


def test_a_reopened_case_needs_new_notes(world, strict):
    case = submitted(world, strict)
    points = list(case.checklist.values_list("pk", flat=True))
    services.case_transition(
        actor=world.supervisor, case_id=case.pk, to="completed", confirm=points,
        notes=dict.fromkeys(points, "核实"),
    )  # fmt: skip
    services.case_transition(actor=world.supervisor, case_id=case.pk, to="in_progress", note="反弹")
    assert set(case.checklist.values_list("confirmed", "note")) == {(False, "")}
    services.case_transition(actor=world.inspector_a, case_id=case.pk, to="submitted", note="再报")
    with pytest.raises(CheckpointNoteRequired):
        services.case_transition(
            actor=world.supervisor, case_id=case.pk, to="completed", confirm=points
        )


# --- The import -------------------------------------------------------------------------


def test_an_import_cannot_close_a_case_that_needs_notes(world, strict):
    case = submitted(world, strict)
    data = edit(export_bytes(world.supervisor), case.code, 整改状态="已销号")
    before = stored(case)
    job = preview(world.supervisor, data)
    [problem] = job.problems
    points = list(case.checklist.values_list("pk", flat=True))
    with pytest.raises(CheckpointNoteRequired) as refused:
        services.case_transition(
            actor=world.supervisor, case_id=case.pk, to="completed", confirm=points
        )
    assert (problem["code"], problem["column"]) == (case.code, "整改状态")
    # The import confirms nothing: the checklist's own refusal comes first, in its words.
    assert problem["message"].startswith("销号前须确认全部验收要点")
    assert refused.value.code == "checkpoint_note_required"
    assert stored(case) == before


def test_an_import_cannot_submit_without_evidence(world, strict):
    case = world.case(inspection=strict)
    drive_to(case, "in_progress", world.supervisor)
    with pytest.raises(EvidenceRequired):
        services.case_transition(
            actor=world.dept_supervisor, case_id=case.pk, to="submitted", note="申请"
        )
    user = world.dept_supervisor  # of the unit: may make its moves, and import
    job = preview(user, edit(export_bytes(user), case.code, 整改状态="待验收"))
    [problem] = job.problems
    assert (problem["column"], problem["message"]) == ("整改状态", NEEDS_EVIDENCE)
    assert Case.objects.get(pk=case.pk).status == "in_progress"
