"""Every write path records who (the actor and the unit they acted for) and when: the admin,
the ledger import (inline and by the worker), the web list's bulk actions, the case page and
the API all write their history through the services, chained like any other."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cases import organisation
from cases.models import Case, CaseEvent, Unit, User
from ledgers import services as ledger_services
from ledgers.models import Job
from tests.factories import PASSWORD, PDF, World, days
from tests.ledgers.helpers import preview, xlsx
from tracker.celery import app as celery_app

pytestmark = pytest.mark.django_db


class Window:
    """The moments a block of writes happened in."""

    def __init__(self) -> None:
        self.start = timezone.now()
        self.end: datetime | None = None

    def close(self) -> None:
        self.end = timezone.now()


@pytest.fixture
def window() -> Iterator[Window]:
    w = Window()
    yield w


def new_events(before: int) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(pk__gt=before).order_by("pk"))


def last_event_id() -> int:
    return CaseEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def assert_recorded(events: list[CaseEvent], actor: User, unit: Unit, window: Window) -> None:
    window.close()
    assert events, "no history written"
    assert window.end is not None
    for event in events:
        assert event.actor_id == actor.pk, event
        assert event.actor_unit_id == unit.pk, event
        assert window.start <= event.created_at <= window.end, event
    verify = StringIO()
    for case_id in {e.case_id for e in events}:
        call_command("verify_history", "--case", str(case_id), stdout=verify)


@pytest.fixture
def unit_admin(world: World) -> User:
    """A staff superuser who belongs to the commission (how a site's admin is set up)."""
    return organisation.user_create(
        username="unit_admin",
        password=PASSWORD,
        unit=world.commission,
        role="supervisor",
        is_superuser=True,
    )


def _admin_form(**fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "code": "",
        "description": "",
        "source": Case.Source.CITY_FEEDBACK,
        "parent": "",
        "owner": "",
        "supervising_unit": "",
        "region": "",
        "method": "",
        "amount": "",
        "checklist_text": "",
        "change_reason": "",
    }
    for prefix in ("checklist", "evidence", "events"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(fields)
    return data


def _errors(response: object) -> list[str]:
    import re

    text = response.content.decode()  # type: ignore[attr-defined]
    return re.findall(r'<ul class="errorlist[^"]*" id="([^"]*)"', text)


def test_admin_writes_record_actor_unit_and_time(
    client, world: World, unit_admin: User, window: Window
) -> None:
    client.force_login(unit_admin)
    before = last_event_id()
    response = client.post(
        reverse("admin:cases_case_add"),
        _admin_form(
            code="ADM-1",
            title="后台登记",
            inspection=world.inspection.pk,
            supervising_unit=world.commission.pk,
            responsible_unit=world.unit_a.pk,
            deadline=days(30).isoformat(),
            checklist_text="要点一",
        ),
    )
    assert response.status_code == 302, _errors(response)
    case = Case.objects.get(title="后台登记")
    response = client.post(
        reverse("admin:cases_case_change", args=[case.pk]),
        _admin_form(
            title="后台修改",
            responsible_unit=world.unit_b.pk,
            deadline=days(60).isoformat(),
            change_reason="情况变化",
            checklist_text="要点一",
        ),
    )
    assert response.status_code == 302, _errors(response)
    events = new_events(before)
    assert [e.kind for e in events] == ["created", "edit", "deadline", "assignment"]
    assert_recorded(events, unit_admin, world.commission, window)


def test_ledger_import_records_actor_unit_and_time(world: World, window: Window) -> None:
    before = last_event_id()
    row = {
        "问题编号": "IMP-1",
        "所属检查": world.inspection.name,
        "问题标题": "导入的问题",
        "责任单位": "甲县局",
        "整改时限": "2030-06-30",
        # A move a supervisor makes on another unit's case (cases.rules: not start or submit).
        "整改状态": "纳入负面清单/不予整改",
    }
    job = ledger_services.import_job_confirm(
        actor=world.supervisor, job_id=preview(world.supervisor, xlsx([row])).pk
    )
    assert job.status == Job.Status.DONE
    events = new_events(before)
    assert [e.kind for e in events] == ["created", "transition"]
    assert_recorded(events, world.supervisor, world.commission, window)


def test_ledger_import_by_the_worker_records_its_owner(
    world: World, settings, window: Window, django_capture_on_commit_callbacks
) -> None:
    settings.LEDGER_IMPORT_INLINE_ROWS = 0  # not inline: queued for the worker
    settings.LEDGER_FILES_ROOT = settings.EVIDENCE_ROOT.parent / "ledgers"
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    case = world.case(world.unit_a, title="原标题")
    before = last_event_id()
    row = {
        "问题编号": case.code,
        "所属检查": world.inspection.name,
        "问题标题": "导入改的标题",
        "责任单位": "甲县局",
        "整改时限": case.deadline.isoformat(),
    }
    try:
        with django_capture_on_commit_callbacks(execute=True):
            job = ledger_services.import_job_confirm(
                actor=world.supervisor, job_id=preview(world.supervisor, xlsx([row])).pk
            )
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.status
    events = new_events(before)
    assert [e.kind for e in events] == ["edit"]
    assert_recorded(events, world.supervisor, world.commission, window)


def test_bulk_actions_record_actor_unit_and_time(client, world: World, window: Window) -> None:
    a, b = world.case(world.unit_a), world.case(world.unit_a)
    client.force_login(world.supervisor)
    before = last_event_id()
    for data in (
        {"action": "extend", "deadline": days(90).isoformat(), "note": "统一延期"},
        {"action": "follow_up", "note": "请加快进度"},
        {"action": "assign", "responsible_unit": world.unit_b.pk},
    ):
        response = client.post(reverse("cases:bulk"), {**data, "cases": [a.pk, b.pk]})
        assert response.status_code == 302
    events = new_events(before)
    assert sorted(e.kind for e in events) == sorted(["deadline", "follow_up", "assignment"] * 2)
    assert_recorded(events, world.supervisor, world.commission, window)


def test_case_page_writes_record_actor_unit_and_time(client, world: World, window: Window) -> None:
    case = world.case(world.unit_a)
    client.force_login(world.inspector_a)
    before = last_event_id()
    client.post(reverse("cases:transition", args=[case.pk]), {"to": "in_progress", "note": ""})
    events = new_events(before)
    assert [e.kind for e in events] == ["transition"]
    assert_recorded(events, world.inspector_a, world.unit_a, window)


def test_api_writes_record_actor_unit_and_time(world: World, window: Window) -> None:
    api = APIClient()
    api.force_authenticate(world.supervisor)
    before = last_event_id()
    response = api.post(
        "/api/v1/cases/",
        {
            "inspection": world.inspection.pk,
            "title": "接口登记",
            "responsible_unit": world.unit_a.pk,
            "deadline": days(30).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    case_id = response.json()["id"]
    url = f"/api/v1/cases/{case_id}/"
    assert (
        api.patch(
            url, {"title": "接口修改", "deadline": days(45).isoformat(), "reason": "延期"},
            format="json",
        ).status_code
        == 200
    )  # fmt: skip
    assert api.post(url + "follow-up/", {"note": "督办"}, format="json").status_code == 201
    upload = SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")
    assert api.post(url + "evidence/", {"file": upload, "note": "材料"}).status_code == 201
    assert_recorded(new_events(before), world.supervisor, world.commission, window)

    inspector = APIClient()
    inspector.force_authenticate(world.inspector_a)
    before = last_event_id()
    second = Window()
    assert (
        inspector.post(url + "transitions/", {"to": "in_progress"}, format="json").status_code
        == 200
    )
    assert inspector.patch(url, {"progress": "进行中"}, format="json").status_code == 200
    events = new_events(before)
    assert [e.kind for e in events] == ["transition", "rectification"]
    assert_recorded(events, world.inspector_a, world.unit_a, second)
