"""Every change outside the cases writes the audit log, whatever the door: the services, the
admin (units, users and roles, inspections, group bots) and the ledgers."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from audit.integrity import verify_audit
from audit.models import AuditEntry
from audit.services import audit_record
from cases import accounts, organisation
from cases.errors import InvalidInput
from cases.models import ApiToken, User
from ledgers import services as ledger_services
from reminders.models import UnitWebhook
from tests.factories import PASSWORD, api_key, make_unit, make_user
from tests.ledgers.helpers import preview, xlsx

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action


def last(action: str) -> AuditEntry:
    return AuditEntry.objects.filter(action=action).order_by("-seq").first()


def admin_client(world) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


def test_it_records_who_acted_for_which_unit_in_which_role(world, rf):
    request = rf.get("/somewhere/?x=1", REMOTE_ADDR="203.0.113.9")
    request.user = world.supervisor
    entry = audit_record(
        actor=world.supervisor, action=Action.UNIT_UPDATE, target=world.unit_a, request=request
    )
    assert entry.actor == world.supervisor
    assert entry.actor_unit == world.commission
    assert entry.actor_role == "supervisor"
    assert entry.ip_address == "203.0.113.9"
    assert entry.path == "/somewhere/?x=1"
    assert (entry.target_type, entry.target_id) == ("cases.unit", str(world.unit_a.pk))
    assert entry.target_unit == world.unit_a
    assert verify_audit() == []


def test_it_records_unit_create_and_update_with_old_and_new_values(world):
    unit = organisation.unit_create(
        name="新单位", level="department", parent=world.county_a, actor=world.admin
    )
    created = last(Action.UNIT_CREATE)
    assert created.actor == world.admin and created.target_id == str(unit.pk)
    assert created.changes["name"] == [None, "新单位"]

    organisation.unit_update(
        unit=unit,
        name="改名单位",
        is_supervising_body=False,
        is_responsible_unit=False,
        actor=world.admin,
    )
    updated = last(Action.UNIT_UPDATE)
    assert updated.changes == {"name": ["新单位", "改名单位"], "is_responsible_unit": [True, False]}


def test_it_records_nothing_for_an_update_that_changes_nothing(world):
    before = AuditEntry.objects.count()
    organisation.unit_update(
        unit=world.unit_a,
        name=world.unit_a.name,
        is_supervising_body=False,
        is_responsible_unit=True,
        actor=world.admin,
    )
    assert AuditEntry.objects.count() == before


def test_it_records_a_role_change_and_never_the_password(world):
    user = make_user(world.unit_a, "inspector", "li")
    created = last(Action.USER_CREATE)
    assert created.target_id == str(user.pk)
    assert "password" not in created.changes and PASSWORD not in str(created.changes)

    accounts.user_update(actor=world.admin, user_id=user.pk, role="supervisor")
    change = last(Action.ROLE_CHANGE)
    assert change.actor == world.admin
    assert change.changes == {"role": ["inspector", "supervisor"]}

    accounts.user_update(actor=world.admin, user_id=user.pk, full_name="李四")
    assert last(Action.USER_UPDATE).changes == {"full_name": ["", "李四"]}


def test_it_refuses_a_role_without_a_unit_and_records_nothing(world):
    user = make_user(world.unit_a, "inspector", "wang")
    before = AuditEntry.objects.count()
    with pytest.raises(InvalidInput):
        accounts.user_update(actor=world.admin, user_id=user.pk, unit=None)
    assert AuditEntry.objects.count() == before
    user.refresh_from_db()
    assert user.unit == world.unit_a


def test_it_records_disabling_a_user_and_the_tokens_revoked(world):
    api_key(world.inspector_a)
    accounts.user_update(actor=world.admin, user_id=world.inspector_a.pk, is_active=False)
    entry = last(Action.USER_DISABLE)
    assert entry.actor == world.admin
    assert entry.changes == {"is_active": [True, False], "tokens_revoked": [1, 0]}
    assert not ApiToken.objects.filter(user=world.inspector_a, revoked_at__isnull=True).exists()


def test_it_records_inspection_create_and_update(world):
    inspection = organisation.inspection_create(
        name="专项检查", kind="special", year=2024, issuing_unit=world.commission, actor=world.admin
    )
    assert last(Action.INSPECTION_CREATE).target_id == str(inspection.pk)
    organisation.inspection_update(inspection=inspection, actor=world.admin, restricted=True)
    entry = last(Action.INSPECTION_UPDATE)
    assert entry.changes == {"restricted": [False, True]}
    assert entry.target_unit == world.commission


def test_it_records_a_role_change_through_the_admin(world):
    user = world.inspector_a
    client = admin_client(world)
    response = client.post(
        f"/admin/cases/user/{user.pk}/change/",
        {
            "username": user.username,
            "full_name": user.full_name,
            "unit": world.commission.pk,
            "role": "supervisor",
            "is_active": "on",
            "email": "",
            "first_name": "",
            "last_name": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    entry = last(Action.ROLE_CHANGE)
    assert entry.actor == world.admin
    assert entry.target_id == str(user.pk)
    assert entry.changes["role"] == ["inspector", "supervisor"]
    assert entry.changes["unit"] == [world.unit_a.pk, world.commission.pk]
    assert entry.path == f"/admin/cases/user/{user.pk}/change/"
    user.refresh_from_db()
    assert user.role == "supervisor"


def test_it_records_a_user_created_through_the_admin(world):
    response = admin_client(world).post(
        "/admin/cases/user/add/",
        {
            "username": "zhao",
            "usable_password": "true",
            "password1": "a-long-enough-password",
            "password2": "a-long-enough-password",
            "full_name": "赵六",
            "unit": world.unit_a.pk,
            "role": "inspector",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    user = User.objects.get(username="zhao")
    assert user.check_password("a-long-enough-password")
    entry = last(Action.USER_CREATE)
    assert entry.actor == world.admin and entry.target_id == str(user.pk)
    assert entry.changes["role"] == [None, "inspector"]


def test_it_records_a_unit_edited_in_the_admin(world):
    response = admin_client(world).post(
        f"/admin/cases/unit/{world.unit_b.pk}/change/",
        {"name": "乙县新局", "is_responsible_unit": "on"},
    )
    assert response.status_code == 302
    entry = last(Action.UNIT_UPDATE)
    assert entry.actor == world.admin
    assert entry.changes == {"name": ["乙县局", "乙县新局"]}


def test_it_records_group_bots_without_their_secrets(world, settings):
    # The egress policy resolves the bot's host: the test's own address stands in for a public
    # one (no name resolves on this closed network).
    settings.WEBHOOK_TEST_ALLOW_ADDRESSES = ["127.0.0.1/32"]
    client = admin_client(world)
    key_url = "https://127.0.0.1/robot/send?access_token=SECRET-TOKEN"
    form = {
        "unit": world.unit_a.pk,
        "flavour": "dingtalk",
        "url": key_url,
        "secret": "SEC-SIGNING",
        "timeout_seconds": 5,
        "max_attempts": 5,
        "enabled": "on",
    }
    assert client.post("/admin/reminders/unitwebhook/add/", form).status_code == 302
    webhook = UnitWebhook.objects.get(unit=world.unit_a)
    created = last(Action.WEBHOOK_CREATE)
    assert created.actor == world.admin and created.target_unit == world.unit_a
    assert created.changes["url"] == [None, "https://127.0.0.1/robot/send"]

    form.update(url=key_url.replace("SECRET-TOKEN", "NEW-TOKEN"), secret="SEC-NEW", enabled="")
    response = client.post(f"/admin/reminders/unitwebhook/{webhook.pk}/change/", form)
    assert response.status_code == 302
    updated = last(Action.WEBHOOK_UPDATE)
    assert set(updated.changes) == {"enabled", "url_key", "secret"}

    response = client.post(f"/admin/reminders/unitwebhook/{webhook.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not UnitWebhook.objects.exists()
    assert last(Action.WEBHOOK_DELETE).changes["enabled"] == [False, None]
    logged = str(list(AuditEntry.objects.values_list("changes", "note", "target_label")))
    for secret in ("SECRET-TOKEN", "NEW-TOKEN", "SEC-SIGNING", "SEC-NEW"):
        assert secret not in logged


def test_it_records_a_background_export(world):
    job = ledger_services.export_job_create(actor=world.supervisor, query="status=open", total=9)
    entry = last(Action.EXPORT_LEDGER)
    assert entry.actor == world.supervisor
    assert entry.target_id == str(job.pk)
    assert entry.changes == {"query": "status=open", "rows": 9}


def test_it_records_a_small_export_from_the_page(world):
    client = Client()
    client.force_login(world.inspector_a)
    response = client.post("/ledgers/export/", {"query": "status=open"})
    assert response.status_code == 200
    entry = last(Action.EXPORT_LEDGER)
    assert entry.actor == world.inspector_a
    assert entry.changes == {"query": "status=open"}
    assert entry.path == "/ledgers/export/"


def test_it_records_an_import_when_it_is_confirmed(world):
    row = {
        "问题编号": "IMP-1",
        "所属检查": world.inspection.name,
        "问题标题": "导入的问题",
        "责任单位": "甲县局",
        "整改时限": "2030-06-30",
    }
    job = preview(world.supervisor, xlsx([row]))
    assert last(Action.IMPORT_LEDGER) is None  # a preview imports nothing
    ledger_services.import_job_confirm(actor=world.supervisor, job_id=job.pk)
    entry = last(Action.IMPORT_LEDGER)
    assert entry.actor == world.supervisor
    assert entry.target_id == str(job.pk)
    assert entry.changes == {"file": "台账.xlsx", "rows": 1, "created": 1, "updated": 0}


def test_it_records_a_unit_change_inside_the_callers_transaction(world):
    before = AuditEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        make_unit("回滚单位", parent=world.city)
        raise RuntimeError("the caller fails after the write")
    assert AuditEntry.objects.count() == before
    assert verify_audit() == []
