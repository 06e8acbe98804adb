"""An import keeps no rule of its own: a row that breaks a workflow rule is refused by the
service that owns the rule, in the words the API (or the service) gives for the same
operation, and nothing of it is stored. The preview finds every such row (the rows are
rehearsed through the services and rolled back); an import is still every row or none, so a
good row in the same file is shown as a change and stored only once the file is clean."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from openpyxl import load_workbook
from rest_framework.test import APIClient

from cases import checklist
from cases import services as case_services
from cases.errors import Conflict, DomainError
from cases.models import Case, CaseEvent, CheckPoint
from ledgers import services
from ledgers.models import Job
from ledgers.workbook import HEADER_ROWS
from tests.factories import days, drive_to
from tests.ledgers.helpers import LABELS, edit, export_bytes, preview, xlsx
from tests.ledgers.test_import import new_row

pytestmark = pytest.mark.django_db


def api_refusal(user: Any, method: str, url: str, payload: dict[str, Any]) -> str:
    """The API's message for an operation it refuses (and so does not carry out)."""
    client = APIClient()
    client.force_authenticate(user)
    response = getattr(client, method)(url, payload, format="json")
    assert 400 <= response.status_code < 500, response.content
    return response.json()["message"]


def service_refusal(call: Callable[[], Any]) -> str:
    """A service's message for an operation it refuses (nothing written)."""
    with pytest.raises(DomainError) as refused, transaction.atomic():
        call()
    return refused.value.message


def stored() -> tuple[int, ...]:
    return (
        Case.objects.count(),
        CaseEvent.objects.count(),
        CheckPoint.objects.count(),
        CheckPoint.objects.filter(confirmed=True).count(),
    )


def row_of(job: Any, code: str) -> int:
    return next(row["row"] for row in job.rows if row["values"]["code"] == code)


def transition(case: Case, to: str) -> tuple[str, str, dict[str, Any]]:
    return "post", f"/api/v1/cases/{case.pk}/transitions/", {"to": to, "note": "API"}


# --- One scenario per rule: (user, file, code of the bad row, column, the refusal's words) ---


def closing_with_unconfirmed_points(world):
    case = drive_to(world.case(checklist=["窗口是否运行", "制度是否印发"]), "submitted",
                    world.supervisor)  # fmt: skip
    message = api_refusal(world.supervisor, *transition(case, "completed"))
    data = edit(export_bytes(world.supervisor), case.code, 整改状态="已销号")
    return world.supervisor, data, case.code, "整改状态", message


def item_under_a_closed_problem(world):
    problem = drive_to(world.case(), "completed", world.supervisor)
    payload = {"inspection": world.inspection.pk, "title": "新事项", "parent": problem.pk,
               "responsible_unit": world.unit_a.pk, "deadline": str(days(30))}  # fmt: skip
    message = api_refusal(world.supervisor, "post", "/api/v1/cases/", payload)
    data = xlsx([new_row(world, "ITEM-1", 所属问题编号=problem.code)])
    return world.supervisor, data, "ITEM-1", "所属问题编号", message


def reopening_an_item_under_a_closed_problem(world):
    problem = world.case()
    item = drive_to(world.case(parent=problem), "completed", world.supervisor)
    drive_to(problem, "completed", world.supervisor)
    message = api_refusal(world.supervisor, *transition(item, "in_progress"))
    data = edit(export_bytes(world.supervisor), item.code, 整改状态="整改中")
    return world.supervisor, data, item.code, "整改状态", message


def closing_a_problem_with_open_items(world):
    problem = drive_to(world.case(), "submitted", world.supervisor)
    world.case(parent=problem)
    message = api_refusal(world.supervisor, *transition(problem, "completed"))
    data = edit(export_bytes(world.supervisor), problem.code, 整改状态="已销号")
    return world.supervisor, data, problem.code, "整改状态", message


def a_move_the_workflow_forbids(world):
    case = drive_to(world.case(), "completed", world.supervisor)
    message = api_refusal(world.supervisor, *transition(case, "open"))
    data = edit(export_bytes(world.supervisor), case.code, 整改状态="待整改")
    return world.supervisor, data, case.code, "整改状态", message


def a_new_case_in_a_unit_outside_the_scope(world):
    user = world.county_a_supervisor
    world.case(world.unit_a)  # the county sees the inspection through a case of its own
    message = service_refusal(
        lambda: case_services.case_create(actor=user, inspection=world.inspection, title="越界",
                                          responsible_unit=world.unit_b, deadline=days(30))
    )  # fmt: skip
    data = xlsx([new_row(world, "OUT-1", 责任单位=world.unit_b.name)])
    return user, data, "OUT-1", "责任单位", message


def handing_a_case_to_a_unit_outside_the_scope(world):
    user, case = world.county_a_supervisor, world.case(world.unit_a)
    message = service_refusal(
        lambda: case_services.case_assign(actor=user, case_id=case.pk,
                                          responsible_unit=world.unit_b)
    )  # fmt: skip
    data = edit(export_bytes(user), case.code, 责任单位=world.unit_b.name)
    return user, data, case.code, "责任单位", message


def an_owner_of_another_unit(world):
    payload = {"inspection": world.inspection.pk, "title": "新问题", "owner": world.inspector_b.pk,
               "responsible_unit": world.unit_a.pk, "deadline": str(days(30))}  # fmt: skip
    message = api_refusal(world.supervisor, "post", "/api/v1/cases/", payload)
    data = xlsx([new_row(world, "OWN-1", 责任人=world.inspector_b.username)])
    return world.supervisor, data, "OWN-1", "责任人", message


def a_deadline_changed_on_a_done_case(world):
    case = drive_to(world.case(), "completed", world.supervisor)
    payload = {"deadline": str(case.deadline + timedelta(days=30)), "reason": "API"}
    message = api_refusal(world.supervisor, "patch", f"/api/v1/cases/{case.pk}/", payload)
    data = edit(export_bytes(world.supervisor), case.code,
                整改时限=case.deadline + timedelta(days=30))  # fmt: skip
    return world.supervisor, data, case.code, "整改时限", message


def measures_changed_on_a_done_case(world):
    case = drive_to(world.case(), "completed", world.supervisor)
    payload = {"measures": "补充"}
    message = api_refusal(world.supervisor, "patch", f"/api/v1/cases/{case.pk}/", payload)
    data = edit(export_bytes(world.supervisor), case.code, 整改措施="补充")
    return world.supervisor, data, case.code, "整改措施", message


def a_code_taken_outside_the_scope(world):
    user, hidden = world.county_a_supervisor, world.case(world.unit_b)
    world.case(world.unit_a)  # the county sees the inspection through a case of its own
    message = service_refusal(
        lambda: case_services.case_create(actor=user, inspection=world.inspection, title="重号",
                                          code=hidden.code, responsible_unit=world.unit_a,
                                          deadline=days(30))
    )  # fmt: skip
    return user, xlsx([new_row(world, hidden.code)]), hidden.code, "问题编号", message


def a_negative_amount(world):
    case = world.case()
    message = service_refusal(
        lambda: case_services.case_update_details(actor=world.supervisor, case_id=case.pk,
                                                  amount=Decimal("-5"))
    )  # fmt: skip
    data = edit(export_bytes(world.supervisor), case.code, **{"涉及金额（元）": "-5"})
    return world.supervisor, data, case.code, "涉及金额（元）", message


def an_empty_title(world):
    case = world.case()
    message = service_refusal(
        lambda: case_services.case_update_details(actor=world.supervisor, case_id=case.pk,
                                                  title="")
    )  # fmt: skip
    data = edit(export_bytes(world.supervisor), case.code, 问题标题="")
    return world.supervisor, data, case.code, "问题标题", message


SCENARIOS = [
    closing_with_unconfirmed_points,
    item_under_a_closed_problem,
    reopening_an_item_under_a_closed_problem,
    closing_a_problem_with_open_items,
    a_move_the_workflow_forbids,
    a_new_case_in_a_unit_outside_the_scope,
    handing_a_case_to_a_unit_outside_the_scope,
    an_owner_of_another_unit,
    a_deadline_changed_on_a_done_case,
    measures_changed_on_a_done_case,
    a_code_taken_outside_the_scope,
    a_negative_amount,
    an_empty_title,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_a_row_breaking_a_rule_is_refused_in_the_services_words(world, scenario):
    user, data, code, column, message = scenario(world)
    good = new_row(world, "GOOD-1", 整改状态="纳入负面清单/不予整改")
    data = _with_row(data, good)
    before = stored()
    job = preview(user, data)
    assert job.status == Job.Status.PREVIEW
    found = [(p["row"], p["code"], p["column"], p["message"]) for p in job.problems]
    assert found == [(row_of(job, code), code, column, message)]
    # The good row of the same file passed the services: it is what the import would create.
    assert [(c["code"], c["action"]) for c in job.changes] == [("GOOD-1", "create")]
    assert stored() == before  # the rehearsal left nothing, of either row
    with pytest.raises(Conflict):  # every row or none: a file with a refused row imports none
        services.import_job_confirm(actor=user, job_id=job.pk)
    assert stored() == before and not Case.objects.filter(code="GOOD-1").exists()


def _with_row(data: bytes, row: dict[str, Any]) -> bytes:
    """A ledger (an export or a typed file) with one more row at the end, in its columns
    (an export's are LABELS, a typed file's its header row)."""
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    headers = [cell.value or LABELS[n] for n, cell in enumerate(sheet[HEADER_ROWS])]
    sheet.append([row.get(label) for label in headers])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_every_refused_row_is_listed_and_an_item_of_a_refused_problem_with_it(world):
    done = drive_to(world.case(), "completed", world.supervisor)
    rows = [
        new_row(world, "P-1", 问题标题=""),  # 5: case_create refuses it
        new_row(world, "P-1-01", 所属问题编号="P-1"),  # 6: its problem was not registered
        new_row(world, "P-2"),  # 7: good
        new_row(world, done.code, 问题标题=done.title, 整改状态="整改中", 整改措施="再改"),  # 8
        new_row(world, "P-2-01", 所属问题编号="P-2", 整改状态="纳入负面清单/不予整改"),  # 9
    ]
    empty_title = service_refusal(
        lambda: case_services.case_create(actor=world.supervisor, inspection=world.inspection,
                                          title="", responsible_unit=world.unit_a,
                                          deadline=days(30))
    )  # fmt: skip
    before = stored()
    job = preview(world.supervisor, xlsx(rows))
    assert [(p["row"], p["column"], p["message"]) for p in job.problems] == [
        (5, "问题标题", empty_title),
        (6, "所属问题编号", "所属问题“P-1”未能导入。"),
    ]
    # Row 8 reopens a done case and records measures: allowed (the note is the import's).
    assert (job.created, job.updated) == (2, 1) and stored() == before
    # Without the refused rows, the rest imports: good rows were only waiting for them.
    job = services.import_job_confirm(
        actor=world.supervisor, job_id=preview(world.supervisor, xlsx(rows[2:])).pk
    )
    assert job.status == Job.Status.DONE and (job.created, job.updated) == (2, 1)
    assert Case.objects.get(code="P-2-01").status == "exempted"
    done.refresh_from_db()
    assert (done.status, done.measures) == ("in_progress", "再改")


def test_a_row_refused_when_the_import_runs_fails_it_whole_in_the_services_words(world):
    first = drive_to(world.case(), "submitted", world.supervisor)
    second = drive_to(world.case(), "submitted", world.supervisor)
    data = export_bytes(world.supervisor)
    for case in (first, second):
        data = edit(data, case.code, 整改状态="已销号")
    job = preview(world.supervisor, _with_row(data, new_row(world, "LATE-1")))
    assert not job.problems and job.total == 3
    for case in (first, second):  # after the preview, before the confirmation
        checklist.checkpoint_add(actor=world.supervisor, case_id=case.pk, text="新增要点")
    messages = [
        api_refusal(world.supervisor, *transition(case, "completed")) for case in (first, second)
    ]
    before = stored()
    job = services.import_job_confirm(actor=world.supervisor, job_id=job.pk)
    assert job.status == Job.Status.FAILED and "未导入任何内容" in job.error
    assert [(p["row"], p["code"], p["column"], p["message"]) for p in job.problems] == [
        (row_of(job, first.code), first.code, "整改状态", messages[0]),
        (row_of(job, second.code), second.code, "整改状态", messages[1]),
    ]
    assert stored() == before and not Case.objects.filter(code="LATE-1").exists()
    assert set(Case.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) \
        == {"submitted"}  # fmt: skip
