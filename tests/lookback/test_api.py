"""The look-back in the API: the same services and selectors as the pages; what a supervisor
of another commission, an inspector, the holder of another unit's token and an anonymous
caller get; and the stats' `recheck_failed` and `accountability` per group."""

from __future__ import annotations

from datetime import date

import pytest
from rest_framework.test import APIClient

from cases.models import Case
from cases.workflow import Status
from lookback import services
from lookback.models import AccountabilityRecord, LookBack, RecheckTask
from tests.factories import api_key

from .conftest import in_days, start

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def with_token(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    return client


def record(world, case, **kwargs) -> AccountabilityRecord:
    values = {
        "person_name": "张某",
        "unit_id": case.responsible_unit_id,
        "measure": "talk",
        "decided_on": date(2026, 1, 5),
        "document_number": "晋纪〔2026〕9号",
        **kwargs,
    }
    return services.accountability_create(actor=world.supervisor, case_id=case.pk, **values)


def test_a_supervisor_starts_a_lookback_and_decides_a_recheck(ledger):
    world = ledger.world
    client = with_token(world.supervisor)  # a commission supervisor's own token
    body = {
        "name": "营商环境回头看",
        "checker": world.supervisor.pk,
        "size": 2,
        "seed": 7,
        "deadline": in_days(10).isoformat(),
        "unit": world.county_a.pk,
    }
    answer = client.post("/api/v1/lookbacks/", body, format="json")
    assert answer.status_code == 201, answer.content
    created = answer.json()
    assert created["seed"] == 7 and created["sample_size"] == 2
    assert created["filters"]["unit"] == world.county_a.pk
    tasks = client.get("/api/v1/rechecks/", {"lookback": created["id"]}).json()["results"]
    assert sorted(t["case"] for t in tasks) == sorted(created["drawn"])
    task = tasks[0]
    decided = client.post(
        f"/api/v1/rechecks/{task['id']}/decision/",
        {"outcome": "false", "finding": "整改材料系补做"},
        format="json",
    )
    assert decided.status_code == 200, decided.content
    assert decided.json()["outcome"] == "false"
    assert Case.objects.get(pk=task["case"]).status == Status.IN_PROGRESS
    again = client.post(
        f"/api/v1/rechecks/{task['id']}/decision/", {"outcome": "confirmed"}, format="json"
    )
    assert again.status_code == 409


def test_bad_input_is_a_400_and_stores_nothing(ledger):
    world = ledger.world
    client = as_user(world.supervisor)
    for body in (
        {"name": "x", "checker": world.supervisor.pk, "deadline": in_days(3).isoformat()},
        {
            "name": "x",
            "checker": world.inspector_a.pk,
            "size": 1,
            "deadline": in_days(3).isoformat(),
        },
        {
            "name": "x",
            "checker": world.supervisor.pk,
            "size": 99,
            "deadline": in_days(3).isoformat(),
        },
        {"name": "x", "checker": world.supervisor.pk, "size": 1, "deadline": "2020-01-01"},
    ):
        answer = client.post("/api/v1/lookbacks/", body, format="json")
        assert answer.status_code == 400, (body, answer.content)
    assert not LookBack.objects.exists()
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()
    answer = client.post(
        f"/api/v1/rechecks/{task.pk}/decision/", {"outcome": "false"}, format="json"
    )
    assert answer.status_code == 400 and "finding" in answer.content.decode()
    assert RecheckTask.objects.get(pk=task.pk).outcome == "pending"


@pytest.mark.parametrize("who", ["inspector_a", "dept_supervisor", "api_reader", "inspector_b"])
def test_nobody_but_the_commission_writes(ledger, who):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()
    client = with_token(getattr(world, who))
    body = {
        "name": "x",
        "checker": world.supervisor.pk,
        "size": 1,
        "deadline": in_days(3).isoformat(),
    }
    assert client.post("/api/v1/lookbacks/", body, format="json").status_code == 403
    answer = client.post(
        f"/api/v1/rechecks/{task.pk}/decision/", {"outcome": "false", "finding": "x"}, format="json"
    )
    assert answer.status_code == 403
    new = {
        "case": task.case_id,
        "person_name": "张某",
        "unit": world.unit_a.pk,
        "measure": "talk",
        "decided_on": "2026-01-05",
        "document_number": "1号",
    }
    assert client.post("/api/v1/accountability/", new, format="json").status_code == 403
    assert LookBack.objects.count() == 1 and not AccountabilityRecord.objects.exists()
    assert RecheckTask.objects.get(pk=task.pk).outcome == "pending"
    for path in ("/api/v1/lookbacks/", "/api/v1/rechecks/"):
        assert client.get(path).json()["results"] == [], path


def test_another_commission_sees_none_of_it(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, unit=world.unit_a.pk, size=1).tasks.get()
    record(world, ledger.closed_b[0])
    county = as_user(world.county_a_supervisor)
    assert county.get("/api/v1/lookbacks/").json()["results"] == []
    assert county.get("/api/v1/rechecks/").json()["results"] == []
    # A case it sees (甲县), a look-back it does not: answered as a missing task.
    answer = county.post(
        f"/api/v1/rechecks/{task.pk}/decision/", {"outcome": "confirmed"}, format="json"
    )
    missing = county.post(
        "/api/v1/rechecks/987654321/decision/", {"outcome": "confirmed"}, format="json"
    )
    assert (answer.status_code, answer.json()) == (missing.status_code, missing.json())
    assert answer.status_code == 404
    # 乙县's record is outside 甲县's jurisdiction.
    assert county.get("/api/v1/accountability/").json()["results"] == []


def test_accountability_is_read_by_the_commission_only(ledger):
    world = ledger.world
    own = record(world, ledger.closed_a[0])
    record(world, ledger.restricted)
    for who in ("inspector_a", "dept_supervisor", "inspector_b"):
        client = with_token(getattr(world, who))
        assert client.get("/api/v1/accountability/").json()["results"] == [], who
    # The commission's own reader token: the rectification ledgers' records, not the clues'.
    reader = with_token(world.api_reader).get("/api/v1/accountability/").json()["results"]
    assert [row["id"] for row in reader] == [own.pk]
    seen = as_user(world.supervisor).get("/api/v1/accountability/").json()["results"]
    assert len(seen) == 2
    assert APIClient().get("/api/v1/accountability/").status_code == 401


def stats(client, group_by="unit") -> dict:
    answer = client.get("/api/v1/stats/completion/", {"group_by": group_by})
    assert answer.status_code == 200, answer.content
    return answer.json()


def by_key(body) -> dict:
    return {row["key"]: row for row in body["rows"]}


def test_the_stats_count_failed_rechecks_and_accountability_per_group(ledger):
    world = ledger.world
    lookback = start(world.supervisor, world.supervisor, percentage=100, seed=1)
    tasks = {t.case_id: t for t in lookback.tasks.all()}
    a1, a2, a3 = ledger.closed_a[:3]
    b1 = ledger.closed_b[0]
    for case, outcome in ((a1, "false"), (a2, "false"), (a3, "confirmed"), (b1, "confirmed")):
        services.recheck_decide(
            actor=world.supervisor, task_id=tasks[case.pk].pk, outcome=outcome, finding="纸面整改"
        )
    record(world, a1)
    record(world, a1, measure="criticism")
    record(world, b1)
    units = by_key(stats(as_user(world.supervisor)))
    row_a, row_b = units[world.unit_a.pk], units[world.unit_b.pk]
    assert (row_a["rechecked"], row_a["recheck_failed"], row_a["accountability"]) == (3, 2, 2)
    assert row_a["recheck_failure_rate"] == pytest.approx(2 / 3)
    assert (row_b["rechecked"], row_b["recheck_failed"], row_b["accountability"]) == (1, 0, 1)
    total = stats(as_user(world.supervisor))["total"]
    assert (total["rechecked"], total["recheck_failed"], total["accountability"]) == (4, 2, 3)
    inspections = by_key(stats(as_user(world.supervisor), "inspection"))
    assert inspections[world.inspection.pk]["recheck_failed"] == 2
    # The commission's reader token counts them too; an inspector reads the failures of its
    # own unit's closes (its cases were reopened) but never the accountability records.
    reader = by_key(stats(with_token(world.api_reader)))
    assert reader[world.unit_a.pk]["accountability"] == 2
    inspector = stats(with_token(world.inspector_a))
    assert [r["recheck_failed"] for r in inspector["rows"]] == [2]
    assert {r["accountability"] for r in [*inspector["rows"], inspector["total"]]} == {None}
    dept = stats(as_user(world.dept_supervisor))
    assert dept["total"]["accountability"] is None


def test_anonymous_callers_get_401(ledger):
    client = APIClient()
    for path in ("/api/v1/lookbacks/", "/api/v1/rechecks/", "/api/v1/accountability/"):
        assert client.get(path).status_code == 401
    assert client.post("/api/v1/rechecks/1/decision/", {}, format="json").status_code == 401
