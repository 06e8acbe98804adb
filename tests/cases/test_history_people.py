"""History names only the people within the caller's scope: anyone above or beside it (the
city commission's supervisor, seen by a county bureau's inspector) appears as
"<unit> · <role>", on the case page and in the API alike (cases.selectors.label_people)."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from cases import services
from cases.workflow import Role
from tests.factories import PDF, World, add_evidence, make_user

pytestmark = pytest.mark.django_db

LABEL = "晋城市纪委监委 · 监督检查人员"


@pytest.fixture
def handled(world: World):
    """A case of the unit below the inspector's, worked by its liaison officer 赵联络
    (within the inspector's scope: the unit's moves) and by the city commission's supervisor
    王监督 (the close with its checklist confirmation, evidence)."""
    wang = make_user(world.commission, Role.SUPERVISOR, "wang_sup", full_name="王监督")
    zhao = make_user(world.unit_a_child, Role.INSPECTOR, "zhao_li", full_name="赵联络")
    case = world.case(world.unit_a_child, checklist=["窗口已运行"])
    services.case_update_rectification(actor=zhao, case_id=case.pk, measures="设立窗口")
    add_evidence(wang, case, "验收.pdf", note="现场")
    services.case_transition(actor=zhao, case_id=case.pk, to="in_progress")
    services.case_transition(actor=zhao, case_id=case.pk, to="submitted", note="申请销号")
    services.case_transition(
        actor=wang, case_id=case.pk, to="completed", confirm=[case.checklist.get().pk]
    )
    return case


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_it_shows_a_supervisor_above_the_inspector_by_unit_and_role_on_the_case_page(
    world, handled
):
    page = _client(world.inspector_a).get(f"/cases/{handled.pk}/").content.decode()
    assert "王监督" not in page and "wang_sup" not in page
    assert LABEL in page
    assert "赵联络" in page  # a colleague within the inspector's scope is named as before


def test_it_shows_a_supervisor_above_the_inspector_by_unit_and_role_in_the_api(world, handled):
    client = _client(world.inspector_a)
    history = client.get(f"/api/v1/cases/{handled.pk}/history/")
    evidence = client.get(f"/api/v1/cases/{handled.pk}/evidence/")
    assert history.status_code == evidence.status_code == 200
    text = json.dumps([history.json(), evidence.json()], ensure_ascii=False)
    assert "王监督" not in text and "wang_sup" not in text
    by_wang = [e for e in history.json() if e["actor_display"] == LABEL]
    assert by_wang and all(e["actor"] is None for e in by_wang)
    assert {e["actor_unit"]["name"] for e in by_wang} == {"晋城市纪委监委"}
    [item] = evidence.json()
    assert (item["uploaded_by"], item["uploaded_by_display"]) == (None, LABEL)
    by_zhao = [e for e in history.json() if e["actor_display"] == "赵联络"]
    assert by_zhao and by_zhao[0]["actor"]["username"] == "zhao_li"


def test_it_names_everyone_to_the_commission_that_oversees_them(world, handled):
    client = _client(world.supervisor)
    history = client.get(f"/api/v1/cases/{handled.pk}/history/").json()
    assert {e["actor_display"] for e in history} == {"supervisor", "王监督", "赵联络"}
    page = client.get(f"/cases/{handled.pk}/").content.decode()
    assert "王监督" in page and "赵联络" in page and LABEL not in page


def test_it_names_the_caller_in_the_answer_to_their_own_write(world, handled):
    case = world.case()
    client = _client(world.inspector_a)
    upload = SimpleUploadedFile("材料.pdf", PDF, content_type="application/pdf")
    answer = client.post(f"/api/v1/cases/{case.pk}/evidence/", {"file": upload})
    assert answer.status_code == 201
    assert answer.json()["uploaded_by"]["username"] == "inspector_a"
    follow_up = _client(world.supervisor).post(
        f"/api/v1/cases/{case.pk}/follow-up/", {"note": "请加快"}, format="json"
    )
    assert follow_up.status_code == 201
    assert follow_up.json()["actor"]["username"] == "supervisor"
