"""The Django admin writes through the services: a change a service refuses shows the
service's reason on the form, stores nothing of that submission and never says it
succeeded; history, evidence, roll-ups, jobs and reminders are read-only there."""

from __future__ import annotations

import pytest
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import NoReverseMatch, reverse

from cases.models import Case, CaseEvent, CheckPoint, CompletionTally, Evidence, User
from ledgers import services as ledger_services
from tests.factories import World, days, drive_to, make_superuser

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, world: World) -> User:
    user = make_superuser("operator")
    client.force_login(user)
    return user


@pytest.fixture
def staff(client, world: World) -> User:
    """A county commission's supervisor with the admin's rights on cases, but not a
    superuser: the admin is closed to them (tracker.admin_site)."""
    user = world.county_a_supervisor
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_case", "change_case", "add_case"])
    )
    client.force_login(user)
    return user


def _case_form(case: Case, **fields: object) -> dict[str, object]:
    """The admin's change form of `case` as shown, with `fields` changed."""
    data: dict[str, object] = {
        "title": case.title,
        "description": case.description,
        "source": case.source,
        "responsible_unit": case.responsible_unit_id,
        "owner": case.owner_id or "",
        "deadline": case.deadline.isoformat(),
        "method": case.method,
        "amount": "",
        "checklist_text": "",
        "change_reason": "",
    }
    for prefix in ("checklist", "evidence", "events"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(fields)
    return data


def _refused(response, reason: str) -> None:
    """Shown again (200) with the service's reason, and no success message."""
    assert response.status_code == 200
    assert reason in response.content.decode()
    levels = [m.level for m in get_messages(response.wsgi_request)]
    assert messages.SUCCESS not in levels
    assert "成功" not in response.content.decode()


def _state(case: Case) -> tuple:
    row = Case.objects.get(pk=case.pk)
    return (row.title, row.deadline, row.responsible_unit_id, row.owner_id, row.history_length)


def test_it_shows_a_refused_deadline_change_and_stores_nothing_of_the_submission(
    client, world, operator
):
    case = world.case()
    before = _state(case)
    # The title would be accepted; the deadline without a reason is refused: all or nothing.
    response = client.post(
        reverse("admin:cases_case_change", args=[case.pk]),
        _case_form(case, title="后台改名", deadline=days(90).isoformat()),
    )
    _refused(response, "调整时限须填写理由。")
    assert _state(case) == before


def test_it_shows_a_refused_deadline_change_of_a_closed_case(client, world, operator):
    case = drive_to(world.case(), "completed", world.supervisor)
    before = _state(case)
    response = client.post(
        reverse("admin:cases_case_change", args=[case.pk]),
        _case_form(case, deadline=days(90).isoformat(), change_reason="延期"),
    )
    _refused(response, "已办结的问题不能调整时限。")
    assert _state(case) == before


def test_it_shows_a_refused_owner_outside_the_responsible_unit(client, world, operator):
    case = world.case()
    before = _state(case)
    response = client.post(
        reverse("admin:cases_case_change", args=[case.pk]),
        _case_form(case, owner=world.inspector_b.pk, change_reason="调整"),
    )
    _refused(response, "责任人须为责任单位的人员。")
    assert _state(case) == before


def test_it_refuses_a_role_without_a_unit_through_the_user_service(client, world, operator):
    user = world.inspector_a
    data = {
        "username": user.username,
        "full_name": "改过的名字",
        "email": "",
        "unit": "",
        "role": "supervisor",
        "is_active": "on",
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
    }
    response = client.post(reverse("admin:cases_user_change", args=[user.pk]), data)
    _refused(response, "有角色的用户必须属于一个单位。")
    user.refresh_from_db()
    assert (user.full_name, user.unit_id, user.role) == ("", world.unit_a.pk, "inspector")


def test_it_changes_a_users_unit_and_role_through_the_user_service(client, world, operator):
    user = world.inspector_a
    data = {
        "username": user.username,
        "full_name": "甲县局联络员",
        "email": "",
        "unit": world.commission.pk,
        "role": "supervisor",
        "is_active": "on",
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
    }
    response = client.post(reverse("admin:cases_user_change", args=[user.pk]), data)
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.full_name, user.unit_id, user.role) == (
        "甲县局联络员",
        world.commission.pk,
        "supervisor",
    )


def test_it_keeps_history_read_only(client, world, operator):
    case = world.case()
    event = CaseEvent.objects.filter(case=case).first()
    assert client.get(reverse("admin:cases_caseevent_add")).status_code == 403
    change = reverse("admin:cases_caseevent_change", args=[event.pk])
    assert client.post(change, {"note": "改写"}).status_code == 403
    delete = reverse("admin:cases_caseevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert CaseEvent.objects.get(pk=event.pk).note == event.note


@pytest.mark.parametrize("model", [Evidence, CheckPoint, CompletionTally])
def test_it_has_no_admin_pages_for_evidence_checklists_and_tallies(model):
    # Evidence and checklist points are shown read-only inside the case's page.
    assert not admin.site.is_registered(model)
    with pytest.raises(NoReverseMatch):
        reverse(f"admin:cases_{model._meta.model_name}_add")


def test_it_keeps_jobs_and_reminders_read_only(client, world, operator):
    job = ledger_services.export_job_create(actor=world.supervisor, query="", total=0)
    delete = reverse("admin:ledgers_exportjob_delete", args=[job.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:ledgers_exportjob_add")).status_code == 403
    assert client.get(reverse("admin:reminders_reminder_add")).status_code == 403
    assert type(job).objects.filter(pk=job.pk).exists()


def test_it_never_deletes_units_users_inspections_or_cases(client, world, operator):
    case = world.case()
    for name, pk in [
        ("cases_case", case.pk),
        ("cases_unit", world.unit_a.pk),
        ("cases_inspection", world.inspection.pk),
        ("cases_user", world.inspector_b.pk),
    ]:
        response = client.post(reverse(f"admin:{name}_delete", args=[pk]), {"post": "yes"})
        assert response.status_code == 403, name
    assert User.objects.filter(pk=world.inspector_b.pk).exists()


def test_it_refuses_a_unit_renamed_to_its_siblings_name_and_stores_nothing(client, world, operator):
    sibling = world.unit_a.parent.children.exclude(pk=world.unit_a.pk).first()
    assert sibling is not None
    response = client.post(
        reverse("admin:cases_unit_change", args=[world.unit_a.pk]),
        {
            "name": sibling.name,
            "level": world.unit_a.level,
            "parent": world.unit_a.parent_id,
            "is_supervising_body": "",
            "is_responsible_unit": "on",
        },
    )
    _refused(response, "同一上级单位下已有同名单位")
    world.unit_a.refresh_from_db()
    assert world.unit_a.name != sibling.name


def test_it_refuses_a_staff_user_who_is_not_a_superuser_and_stores_nothing(client, world, staff):
    case = world.case(world.unit_a)
    before = _state(case)
    for url in (reverse("admin:index"), reverse("admin:cases_case_change", args=[case.pk])):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    response = client.post(
        reverse("admin:cases_case_change", args=[case.pk]), _case_form(case, title="后台改名")
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert _state(case) == before
    assert not LogEntry.objects.filter(object_id=str(case.pk)).exists()


def test_it_takes_an_operators_change_through_the_services(client, world, operator):
    case = world.case(world.unit_a)
    response = client.post(
        reverse("admin:cases_case_change", args=[case.pk]), _case_form(case, title="后台改名")
    )
    assert response.status_code == 302
    event = CaseEvent.objects.filter(case=case).latest("seq")
    assert (event.kind, event.actor_id, event.changes["title"][1]) == (
        "edit",
        operator.pk,
        "后台改名",
    )
    levels = [m.level for m in get_messages(response.wsgi_request)]
    assert messages.SUCCESS in levels


def test_it_shows_a_refused_new_case_and_stores_none(client, world, operator):
    shown = world.case()
    count = Case.objects.count()
    data = _case_form(shown, title="后台登记", owner=world.inspector_b.pk)
    data.update(
        inspection=world.inspection.pk,
        code="HT-001",
        supervising_unit=shown.supervising_unit_id,
    )
    response = client.post(reverse("admin:cases_case_add"), data)
    _refused(response, "责任人须为责任单位的人员。")
    assert Case.objects.count() == count


def test_it_stores_nothing_of_a_submission_whose_inline_forms_are_refused(client, world, operator):
    case = world.case()
    before = _state(case)
    data = _case_form(case, title="后台改名")
    del data["events-TOTAL_FORMS"]  # a forged page: the history inline's management form
    response = client.post(reverse("admin:cases_case_change", args=[case.pk]), data)
    assert response.status_code == 200
    assert "成功" not in response.content.decode()
    assert _state(case) == before
