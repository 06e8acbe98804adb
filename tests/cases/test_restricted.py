"""Restricted ledgers (问题线索台账) are the commission's alone.

Seen only by the supervisors of a commission (纪委监委, any level) within its jurisdiction, by
the units a commission grants the ledger to, and by superusers. Never by a city bureau's or a
county government department's supervisor, an inspector, an API reader (even one of the
commission), nor a commission of another jurisdiction: not in a list, a search, a page (the
same 404 as a missing id), a history, a figure now or as of a past day, the dashboard, an
export, an import or a reminder.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from audit.integrity import verify_audit
from audit.models import AuditEntry
from audit.selectors import audit_entries
from cases import grants, selectors
from cases.completion import Selection, figures
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from cases.models import Case, RestrictedGrant, Unit
from cases.workflow import Role
from ledgers import services as ledger_services
from reminders import services as reminder_services
from reminders.models import Reminder
from tests.factories import World, add_evidence, api_key, days, make_unit, make_user
from tests.ledgers.helpers import export_workbook, ledger_rows, preview, xlsx

pytestmark = pytest.mark.django_db

MISSING = 987_654_321

# Everybody who must never see the clue ledger's cases (the world's names; "county_b_commission"
# is 乙县纪委监委's supervisor, made by the fixture: a commission of another jurisdiction).
BLIND = [
    "city_dept_supervisor",
    "dept_supervisor",
    "inspector_a",
    "api_reader",
    "county_b_commission",
]
# Of them, the supervisors: the ones who may import at all.
BLIND_SUPERVISORS = ["city_dept_supervisor", "dept_supervisor", "county_b_commission"]


@pytest.fixture
def scene(world: World, settings: Any) -> dict[str, Any]:
    settings.REMINDER_CHANNELS = ["in_app"]
    settings.REMINDER_WORKING_DAYS = False
    commission_b = make_unit("乙县纪委监委", parent=world.county_b, is_supervising_body=True)
    world.county_b_commission = make_user(commission_b, Role.SUPERVISOR, "county_b_sup")
    # Created three weeks ago and overdue: in the as-of figures and due for every reminder.
    with time_machine.travel(timezone.now() - timedelta(days=21)):
        secret = world.case(
            world.unit_a,
            inspection=world.restricted,
            title="线索甲",
            deadline=days(-20),
            owner=world.dept_supervisor,  # a reminder would go to its owner
        )
        secret_city = world.case(
            world.city_dept,
            inspection=world.restricted,
            title="线索市局",
            deadline=days(-20),
            owner=world.city_dept_supervisor,
            supervising_unit=world.city_dept,  # an escalation would go to 市局's supervisors
        )
        open_a = world.case(world.unit_a, title="公开甲")
        open_city = world.case(world.city_dept, title="公开市局")
        open_b = world.case(world.unit_b, title="公开乙")
    evidence = add_evidence(world.supervisor, secret, "线索.pdf")
    return {
        "world": world,
        "secret": secret,
        "secret_city": secret_city,
        "open": [open_a, open_city, open_b],
        "evidence": evidence,
    }


def _user(scene: dict[str, Any], persona: str) -> Any:
    return getattr(scene["world"], persona)


def _client(user: Any) -> APIClient:
    client = APIClient()
    if user.role == Role.API_READER:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    client.force_login(user)
    return client


def _secrets(scene: dict[str, Any]) -> list[Case]:
    return [scene["secret"], scene["secret_city"]]


def _same_as_missing(client: APIClient, url: str, case_id: int) -> None:
    """The answer for the case is the answer for a missing id, but for the id itself."""
    hidden = client.get(url.format(case_id))
    missing = client.get(url.format(MISSING))
    assert hidden.status_code == missing.status_code == 404, url
    assert re.sub(rb"\d{3,}", b"<id>", hidden.content) == re.sub(
        rb"\d{3,}", b"<id>", missing.content
    ), url


@pytest.mark.parametrize("persona", BLIND)
def test_it_hides_the_clue_ledger_from_lists_search_pages_and_history(scene, persona):
    user = _user(scene, persona)
    secrets = {case.pk for case in _secrets(scene)}
    assert not selectors.visible_cases(user).filter(pk__in=secrets).exists()
    assert not selectors.visible_inspections(user).filter(restricted=True).exists()
    client = _client(user)
    listed = client.get("/api/v1/cases/", {"page_size": 200}).json()["results"]
    assert secrets.isdisjoint(row["id"] for row in listed)
    assert listed, "the persona sees its other cases"
    for params in ({}, {"search": "线索"}, {"inspection": scene["world"].restricted.pk}):
        page = client.get("/cases/", params)
        assert page.status_code == 200
        assert secrets.isdisjoint(case.pk for case in page.context["page"].object_list), params
        assert "线索甲" not in page.content.decode() and "线索市局" not in page.content.decode()
        found = client.get("/api/v1/cases/", {**params, "page_size": 200}).json()
        assert secrets.isdisjoint(row["id"] for row in found.get("results", [])), params
    for case in _secrets(scene):
        _same_as_missing(client, "/cases/{}/", case.pk)
        _same_as_missing(client, "/api/v1/cases/{}/", case.pk)
        _same_as_missing(client, "/api/v1/cases/{}/history/", case.pk)
        with pytest.raises(NotFound):
            selectors.case_history(user, case.pk)
    evidence = scene["evidence"]
    hidden = client.get(f"/cases/{scene['secret'].pk}/evidence/{evidence.pk}/")
    assert hidden.status_code == 404


@pytest.mark.parametrize("persona", BLIND)
def test_it_counts_no_clue_in_any_figure_now_or_as_of_a_past_day(scene, persona):
    user = _user(scene, persona)
    restricted = scene["world"].restricted.pk
    yesterday = timezone.localdate() - timedelta(days=1)
    visible = selectors.visible_cases(user).filter(parent__isnull=True).count()
    for as_of in (None, yesterday):
        for source in (Selection(user), selectors.visible_cases(user)):
            by_inspection = figures(source, group_by="inspection", as_of=as_of)
            assert restricted not in by_inspection, (as_of, source)
            total = figures(source, as_of=as_of)[None][1]
            assert sum(total[s] for s in Case.Status.values) == visible, (as_of, source)
    client = _client(user)
    stats = client.get("/api/v1/stats/completion/", {"group_by": "inspection"}).json()
    assert restricted not in {row["key"] for row in stats["rows"]}
    assert stats["total"]["total"] == visible
    if user.role == Role.SUPERVISOR:  # the dashboard is the supervisors' landing page
        dashboard = client.get("/dashboard/")
        assert dashboard.context["figures"]["total"]["total"] == visible
        assert scene["world"].restricted.name not in dashboard.content.decode()
        by_inspection = dashboard.context["figures"]["by_inspection"]
        assert restricted not in {row["key"] for row in by_inspection}


@pytest.mark.parametrize("persona", BLIND)
def test_it_exports_no_clue(scene, persona):
    user = _user(scene, persona)
    exported = {row["问题编号"] for row in ledger_rows(export_workbook(user))}
    assert exported and exported.isdisjoint(case.code for case in _secrets(scene))
    narrowed = export_workbook(user, f"inspection={scene['world'].restricted.pk}")
    assert {row["问题编号"] for row in ledger_rows(narrowed)}.isdisjoint(
        case.code for case in _secrets(scene)
    )


@pytest.mark.parametrize("persona", BLIND_SUPERVISORS)
def test_it_refuses_an_import_into_the_clue_ledger_and_stores_nothing(scene, persona):
    user = _user(scene, persona)
    world, secret = scene["world"], scene["secret"]
    unit = user.unit.name
    rows = [
        {
            "问题编号": "NEW-X1",
            "所属检查": world.restricted.name,
            "问题标题": "新线索",
            "责任单位": unit,
            "整改时限": "2030-06-30",
        },
        {
            "问题编号": "NEW-X2",
            "所属检查": world.restricted.code,
            "问题标题": "新线索二",
            "责任单位": unit,
            "整改时限": "2030-06-30",
        },
        {
            "问题编号": secret.code,
            "所属检查": world.inspection.code,
            "问题标题": "改写线索",
            "责任单位": unit,
            "整改时限": "2030-06-30",
        },
    ]
    before = Case.objects.count()
    job = preview(user, xlsx(rows))
    # Rows 5 and 6 (after the title and header rows): the ledger is not found, as a missing
    # one; row 7: the clue's code is not the user's to use (case_create refuses a code in use,
    # whoever may see its case). Each a row error.
    problems = {(p["row"], p["column"]) for p in job.problems}
    assert {(5, "所属检查"), (6, "所属检查"), (7, "问题编号")} <= problems, job.problems
    with pytest.raises(Conflict):
        ledger_services.import_job_confirm(actor=user, job_id=job.pk)
    assert Case.objects.count() == before
    secret.refresh_from_db()
    assert secret.title == "线索甲"
    assert not Case.objects.filter(code__in=["NEW-X1", "NEW-X2"]).exists()


def test_it_reminds_nobody_of_a_clue_who_may_not_see_it(scene):
    reminder_services.sweep()
    world = scene["world"]
    for case in _secrets(scene):
        reminded = set(
            Reminder.objects.filter(case=case, recipient__isnull=False).values_list(
                "recipient__username", flat=True
            )
        )
        # The owners (a department's supervisors) and 市局 (supervising the second) get
        # nothing; only the commission, on escalation.
        assert reminded <= {"supervisor"}, (case.title, reminded)
    assert not Reminder.objects.filter(recipient=world.dept_supervisor, case=scene["secret"])
    assert not Reminder.objects.filter(
        recipient=world.city_dept_supervisor, case=scene["secret_city"]
    )


def test_it_shows_the_clue_ledger_to_the_commission_of_its_jurisdiction_only(scene):
    world = scene["world"]
    secret = scene["secret"]
    assert selectors.case_get(world.supervisor, secret.pk) == secret
    assert selectors.case_get(world.county_a_supervisor, secret.pk) == secret
    assert selectors.case_get(world.admin, secret.pk) == secret
    with pytest.raises(NotFound):
        selectors.case_get(world.county_b_commission, secret.pk)
    # 甲县纪委监委 oversees 甲县, not 市局.
    with pytest.raises(NotFound):
        selectors.case_get(world.county_a_supervisor, scene["secret_city"].pk)


# --- Grants ------------------------------------------------------------------------------------


def test_a_granted_units_supervisor_sees_the_ledger_until_the_grant_is_revoked(scene):
    world, secret = scene["world"], scene["secret"]
    grant = grants.restricted_grant_create(
        actor=world.supervisor,
        inspection_id=world.restricted.pk,
        unit_id=world.unit_a.pk,
        reason="交办线索核查",
    )
    client = _client(world.dept_supervisor)
    assert client.get(f"/api/v1/cases/{secret.pk}/").status_code == 200
    assert client.get(f"/cases/{secret.pk}/").status_code == 200
    assert selectors.visible_inspections(world.dept_supervisor).filter(pk=world.restricted.pk)
    total = figures(Selection(world.dept_supervisor), group_by="inspection")
    assert world.restricted.pk in total
    # Within its usual scope only: the ledger's 市局 case stays hidden.
    with pytest.raises(NotFound):
        selectors.case_get(world.dept_supervisor, scene["secret_city"].pk)
    # The inspectors of the granted unit read it as their unit's case; a sub-unit is not
    # granted with its parent.
    assert selectors.case_get(world.inspector_a, secret.pk) == secret
    child_secret = world.case(world.unit_a_child, inspection=world.restricted, title="线索股室")
    assert not selectors.visible_cases(world.inspector_a_child).filter(pk=child_secret.pk)
    # Never an API reader, granted or not.
    assert not selectors.visible_cases(world.api_reader).filter(pk=secret.pk)

    grants.restricted_grant_revoke(actor=world.supervisor, grant_id=grant.pk, reason="核查完毕")
    _same_as_missing(client, "/api/v1/cases/{}/", secret.pk)
    with pytest.raises(NotFound):
        selectors.case_get(world.inspector_a, secret.pk)
    after = figures(Selection(world.dept_supervisor), group_by="inspection")
    assert world.restricted.pk not in after
    grant.refresh_from_db()
    assert (grant.revoked_by, grant.revoke_reason) == (world.supervisor, "核查完毕")
    assert RestrictedGrant.objects.filter(pk=grant.pk).exists()  # the record stays


@pytest.mark.parametrize(
    "persona", ["dept_supervisor", "city_dept_supervisor", "inspector_a", "api_reader", "admin"]
)
def test_only_a_commission_supervisor_grants(scene, persona):
    world = scene["world"]
    with pytest.raises(Forbidden):
        grants.restricted_grant_create(
            actor=_user(scene, persona),
            inspection_id=world.restricted.pk,
            unit_id=world.unit_a.pk,
            reason="自行授权",
        )
    assert not RestrictedGrant.objects.exists()
    client = _client(_user(scene, persona))
    assert client.get("/restricted-grants/").status_code == 403
    posted = client.post(
        "/restricted-grants/new/",
        {"inspection": world.restricted.pk, "unit": world.unit_a.pk, "reason": "自行授权"},
    )
    assert posted.status_code == 403
    assert not RestrictedGrant.objects.exists()


def test_a_commission_grants_only_what_it_sees_to_units_it_oversees(scene):
    world = scene["world"]
    county_a, county_b = world.county_a_supervisor, world.county_b_commission

    def grant(actor: Any, unit: Unit) -> RestrictedGrant:
        return grants.restricted_grant_create(
            actor=actor, inspection_id=world.restricted.pk, unit_id=unit.pk, reason="授权"
        )

    with pytest.raises(InvalidInput):
        grant(county_a, world.unit_b)  # 乙县局 is not 甲县's
    with pytest.raises(InvalidInput):
        grant(county_b, world.unit_b)  # 乙县纪委监委 does not see the ledger
    with pytest.raises(InvalidInput):
        grants.restricted_grant_create(
            actor=world.supervisor,
            inspection_id=world.inspection.pk,  # not restricted: nothing to grant
            unit_id=world.unit_a.pk,
            reason="授权",
        )
    with pytest.raises(InvalidInput):
        grants.restricted_grant_create(
            actor=world.supervisor,
            inspection_id=world.restricted.pk,
            unit_id=world.unit_a.pk,
            reason="  ",
        )
    assert not RestrictedGrant.objects.exists()
    made = grant(world.supervisor, world.unit_a)
    with pytest.raises(Conflict):
        grant(world.supervisor, world.unit_a)  # one live grant per ledger and unit
    with pytest.raises(NotFound):
        grants.restricted_grant_revoke(actor=county_b, grant_id=made.pk)
    grants.restricted_grant_revoke(actor=world.supervisor, grant_id=made.pk)
    with pytest.raises(Conflict):
        grants.restricted_grant_revoke(actor=world.supervisor, grant_id=made.pk)
    assert grant(world.supervisor, world.unit_a).pk != made.pk  # granted again: a new row


def test_a_commission_grants_and_revokes_on_its_page(scene):
    world = scene["world"]
    client = _client(world.supervisor)
    page = client.get("/restricted-grants/")
    assert page.status_code == 200
    assert list(page.context["form"].fields["inspection"].queryset) == [world.restricted]
    refused = client.post(
        "/restricted-grants/new/",
        {"inspection": world.restricted.pk, "unit": world.unit_a.pk, "reason": ""},
    )
    assert refused.status_code == 400 and not RestrictedGrant.objects.exists()
    done = client.post(
        "/restricted-grants/new/",
        {"inspection": world.restricted.pk, "unit": world.unit_a.pk, "reason": "交办核查"},
    )
    assert done.status_code == 302
    grant = RestrictedGrant.objects.get()
    assert (grant.unit, grant.granted_by) == (world.unit_a, world.supervisor)
    assert grant.reason == "交办核查"
    assert "甲县局" in client.get("/restricted-grants/").content.decode()
    # 乙县纪委监委 does not see this grant: a missing one.
    other = _client(world.county_b_commission)
    assert other.post(f"/restricted-grants/{grant.pk}/revoke/").status_code == 404
    assert other.post(f"/restricted-grants/{MISSING}/revoke/").status_code == 404
    revoked = client.post(f"/restricted-grants/{grant.pk}/revoke/", {"reason": "完毕"})
    assert revoked.status_code == 302
    grant.refresh_from_db()
    assert grant.revoked_at is not None and grant.revoke_reason == "完毕"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the guard is a PostgreSQL trigger")
def test_the_database_keeps_every_grant_and_its_revocation(scene):
    world = scene["world"]
    grant = grants.restricted_grant_create(
        actor=world.supervisor, inspection_id=world.restricted.pk, unit_id=world.unit_a.pk,
        reason="授权",
    )  # fmt: skip
    for change in (
        lambda: RestrictedGrant.objects.filter(pk=grant.pk).delete(),
        lambda: RestrictedGrant.objects.filter(pk=grant.pk).update(unit=world.unit_b),
        lambda: RestrictedGrant.objects.filter(pk=grant.pk).update(granted_at=timezone.now()),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    grants.restricted_grant_revoke(actor=world.supervisor, grant_id=grant.pk)
    with pytest.raises(DatabaseError), transaction.atomic():
        RestrictedGrant.objects.filter(pk=grant.pk).update(revoked_at=None, revoked_by=None)
    assert RestrictedGrant.objects.get(pk=grant.pk).revoked_at is not None


# --- The admin ---------------------------------------------------------------------------------


def test_a_staff_user_who_is_not_a_superuser_reads_no_clue_in_the_admin(scene):
    world = scene["world"]
    staff = world.city_dept_supervisor
    staff.is_staff = True
    staff.save()
    staff.user_permissions.set(
        Permission.objects.filter(
            codename__in=[
                "view_case",
                "view_caseevent",
                "view_inspection",
                "change_inspection",
                "view_restrictedgrant",
                "view_reminder",
            ]
        )
    )
    grants.restricted_grant_create(
        actor=world.supervisor, inspection_id=world.restricted.pk, unit_id=world.unit_b.pk,
        reason="授权",
    )  # fmt: skip
    reminder_services.sweep()
    client = APIClient()
    client.force_login(staff)
    # The admin is for superusers only (tracker.admin_site): whatever rights a staff account
    # holds, every page is the admin's login, and no clue is on it.
    secret = scene["secret_city"]
    for url in (
        "/admin/cases/case/",
        "/admin/cases/caseevent/",
        "/admin/cases/inspection/",
        "/admin/cases/restrictedgrant/",
        "/admin/reminders/reminder/",
        "/admin/reminders/notification/",
        f"/admin/cases/case/{secret.pk}/change/",
        f"/admin/cases/inspection/{world.inspection.pk}/change/",
    ):
        page = client.get(url, follow=True)
        assert page.redirect_chain[0][0].startswith("/admin/login/"), url
        body = page.content.decode()
        shown = [text for text in ("线索甲", "线索市局", world.restricted.code) if text in body]
        assert not shown, (url, shown)


def test_it_records_every_grant_and_revocation_in_the_audit_log(scene):
    world = scene["world"]
    grant = grants.restricted_grant_create(
        actor=world.supervisor,
        inspection_id=world.restricted.pk,
        unit_id=world.unit_a.pk,
        reason="交办线索核查",
    )
    grants.restricted_grant_revoke(actor=world.supervisor, grant_id=grant.pk, reason="核查完毕")
    entries = list(
        AuditEntry.objects.filter(target_type="cases.restrictedgrant", target_id=str(grant.pk))
        .order_by("seq")
        .values_list("action", "actor_id", "target_unit_id", "note")
    )
    assert entries == [
        (AuditEntry.Action.GRANT_CREATE, world.supervisor.pk, world.unit_a.pk, "交办线索核查"),
        (AuditEntry.Action.GRANT_REVOKE, world.supervisor.pk, world.unit_a.pk, "核查完毕"),
    ]
    assert verify_audit() == []


def test_a_lower_commission_neither_reads_revokes_nor_passes_on_a_higher_ones_grants(scene):
    # 甲县纪委监委 sees the city's clue case in its county, yet the ledger and its grants are the
    # city commission's decision: the county can neither regrant the ledger nor undo a grant.
    world = scene["world"]
    grant = grants.restricted_grant_create(
        actor=world.supervisor,
        inspection_id=world.restricted.pk,
        unit_id=world.unit_a.pk,
        reason="交办线索核查",
    )
    county = world.county_a_supervisor
    assert selectors.visible_cases(county).filter(pk=scene["secret"].pk).exists()
    assert not selectors.grantable_inspections(county).exists()
    assert not selectors.restricted_grants(county).exists()
    with pytest.raises(NotFound):
        grants.restricted_grant_revoke(actor=county, grant_id=grant.pk, reason="越权撤销")
    with pytest.raises(InvalidInput):
        grants.restricted_grant_create(
            actor=county, inspection_id=world.restricted.pk, unit_id=world.unit_a.pk, reason="转授"
        )
    # Nor does its audit log name the city's ledger through the grant's entry.
    assert not audit_entries(county).filter(target_type="cases.restrictedgrant").exists()
    assert audit_entries(world.supervisor).filter(target_type="cases.restrictedgrant").exists()
    grant.refresh_from_db()
    assert grant.revoked_at is None
