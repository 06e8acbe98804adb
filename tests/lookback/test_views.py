"""The look-back's pages: a commission supervisor starts, follows and decides; everybody
else is refused before any lookup; bad input is a form error with nothing stored."""

from __future__ import annotations

import pytest
from django.test import Client

from cases.models import Case
from cases.workflow import Status
from lookback.models import AccountabilityRecord, LookBack, RecheckTask

from .conftest import in_days, start

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_supervisor_starts_a_lookback_from_the_form(ledger):
    world = ledger.world
    client = login(world.supervisor)
    page = client.get("/lookback/new/")
    assert page.status_code == 200 and "发起回头看" in page.content.decode()
    answer = client.post(
        "/lookback/new/",
        {
            "name": "耕地保护回头看",
            "inspection": world.inspection.pk,
            "percentage": "50",
            "checker": world.supervisor.pk,
            "deadline": in_days(14).isoformat(),
            "seed": "42",
        },
    )
    lookback = LookBack.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/lookback/{lookback.pk}/"
    assert lookback.sample_size == 5  # half of the inspection's 10 closed problems
    detail = client.get(answer["Location"]).content.decode()
    assert "42" in detail and "一致" in detail
    for task in lookback.tasks.all():
        assert f"/lookback/tasks/{task.pk}/" in detail
    listed = client.get("/lookback/").content.decode()
    assert "耕地保护回头看" in listed and "我的待复核任务" in listed


def test_a_bad_form_is_a_400_and_stores_nothing(ledger):
    world = ledger.world
    client = login(world.supervisor)
    answer = client.post(
        "/lookback/new/",
        {
            "name": "x",
            "size": "50",
            "checker": world.supervisor.pk,
            "deadline": in_days(14).isoformat(),
        },
    )
    assert answer.status_code == 400
    assert "超过了符合条件的已销号问题数" in answer.content.decode()
    assert not LookBack.objects.exists()


def test_a_false_rectification_from_the_task_page(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()
    client = login(world.supervisor)
    assert client.get(f"/lookback/tasks/{task.pk}/").status_code == 200
    refused = client.post(f"/lookback/tasks/{task.pk}/decision/", {"outcome": "false"})
    assert refused.status_code == 400 and "须填写复核发现" in refused.content.decode()
    assert RecheckTask.objects.get(pk=task.pk).outcome == "pending"
    done = client.post(
        f"/lookback/tasks/{task.pk}/decision/", {"outcome": "false", "finding": "台账与现场不符"}
    )
    assert done.status_code == 302
    assert Case.objects.get(pk=task.case_id).status == Status.IN_PROGRESS
    history = client.get(f"/cases/{task.case_id}/").content.decode()
    assert "台账与现场不符" in history


def test_accountability_from_the_case_and_the_task(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()
    client = login(world.supervisor)
    record = {
        "person_name": "李某",
        "person_title": "局长",
        "unit": task.responsible_unit_id,
        "measure": "admonition",
        "decided_on": "2026-03-01",
        "document_number": "晋纪〔2026〕12号",
    }
    assert client.post(f"/lookback/tasks/{task.pk}/accountability/", record).status_code == 302
    case_page = f"/lookback/cases/{task.case_id}/accountability/"
    assert client.post(case_page, {**record, "measure": "talk"}).status_code == 302
    assert AccountabilityRecord.objects.filter(recheck=task).count() == 1
    assert AccountabilityRecord.objects.filter(case_id=task.case_id).count() == 2
    shown = client.get(case_page).content.decode()
    assert "晋纪〔2026〕12号" in shown and "诫勉" in shown
    bad = client.post(case_page, {**record, "document_number": ""})
    assert bad.status_code == 400
    assert AccountabilityRecord.objects.count() == 2


@pytest.mark.parametrize("who", ["inspector_a", "dept_supervisor", "api_reader", "no_unit"])
def test_everybody_else_is_refused_every_page(ledger, who):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()
    client = login(getattr(world, who))
    for path in (
        "/lookback/",
        "/lookback/new/",
        f"/lookback/{task.lookback_id}/",
        f"/lookback/tasks/{task.pk}/",
        f"/lookback/cases/{task.case_id}/accountability/",
    ):
        assert client.get(path).status_code == 403, path
    answer = client.post(
        f"/lookback/tasks/{task.pk}/decision/", {"outcome": "false", "finding": "越权"}
    )
    assert answer.status_code == 403
    assert RecheckTask.objects.get(pk=task.pk).outcome == "pending"


def test_another_commission_gets_not_found(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, unit=world.unit_a.pk, size=1).tasks.get()
    client = login(world.county_a_supervisor)
    for path in (f"/lookback/{task.lookback_id}/", f"/lookback/tasks/{task.pk}/"):
        assert client.get(path).status_code == 404, path
    assert "没有待您复核的任务" in client.get("/lookback/").content.decode()
    # A case of 乙县: outside the county commission's jurisdiction.
    other = f"/lookback/cases/{ledger.closed_b[0].pk}/accountability/"
    assert client.get(other).status_code == 404


def test_anonymous_is_sent_to_login(ledger):
    answer = Client().get("/lookback/")
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")


def test_the_dashboard_shows_the_failure_rate(ledger):
    world = ledger.world
    from lookback import services

    lookback = start(world.supervisor, world.supervisor, unit=world.unit_b.pk, percentage=100)
    first, *rest = lookback.tasks.all()
    services.recheck_decide(
        actor=world.supervisor, task_id=first.pk, outcome="false", finding="纸面整改"
    )
    for task in rest:
        services.recheck_decide(actor=world.supervisor, task_id=task.pk, outcome="confirmed")
    page = login(world.supervisor).get("/dashboard/")
    section = page.context["figures"]["lookback"]
    assert [(r["name"], r["rechecked"], r["recheck_failed"]) for r in section["unit"]] == [
        ("乙县局", 4, 1)
    ]
    assert "回头看复核情况" in page.content.decode() and "25%" in page.content.decode()
    empty = login(world.county_a_supervisor).get("/dashboard/")
    assert "还没有已认定的回头看复核" in empty.content.decode()
