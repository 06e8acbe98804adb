"""Test data built through the services, so tests see what production writes."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cases import organisation, services, tokens
from cases.models import ApiToken, Case, Evidence, Inspection, Unit, User
from cases.workflow import MOVES, Role, Status
from ledgers.models import ExportJob, ImportJob, Job
from reminders.models import Notification

PASSWORD = "correct-horse-battery"
# The smallest file the evidence checks accept as a PDF.
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
_sequence = itertools.count(1)


def make_unit(
    name: str | None = None, *, parent: Unit | None = None, level: str = "department", **kwargs: Any
) -> Unit:
    return organisation.unit_create(
        name=name or f"单位{next(_sequence)}", parent=parent, level=level, **kwargs
    )


def make_user(unit: Unit | None, role: str, username: str | None = None, **kwargs: Any) -> User:
    return organisation.user_create(
        username=username or f"user{next(_sequence)}",
        password=PASSWORD,
        unit=unit,
        role=role,
        **kwargs,
    )


def make_superuser(username: str | None = None) -> User:
    return organisation.user_create(
        username=username or f"admin{next(_sequence)}",
        password=PASSWORD,
        unit=None,
        role="",
        is_superuser=True,
    )


def api_key(user: User, *, name: str | None = None, expires_in_days: int = 30) -> str:
    """A usable API token of `user`; its key. Built as cases.tokens.token_issue builds one,
    without its cap (tests give one user many clients)."""
    key = secrets.token_hex(20)
    ApiToken.objects.create(
        user=user,
        name=name or f"tests-{next(_sequence)}",
        key_prefix=key[: tokens.PREFIX_LENGTH],
        key_hash=tokens.hash_key(key),
        password_fingerprint=tokens.password_fingerprint(user),
        expires_at=timezone.now() + timedelta(days=expires_in_days),
    )
    return key


def make_inspection(issuing_unit: Unit, **kwargs: Any) -> Inspection:
    kwargs.setdefault("name", f"专项检查{next(_sequence)}")
    kwargs.setdefault("kind", Inspection.Kind.SPECIAL)
    kwargs.setdefault("year", 2023)
    return organisation.inspection_create(issuing_unit=issuing_unit, **kwargs)


def make_case(actor: User, inspection: Inspection, unit: Unit, **kwargs: Any) -> Case:
    kwargs.setdefault("title", f"问题{next(_sequence)}")
    kwargs.setdefault("deadline", timezone.localdate() + timedelta(days=30))
    return services.case_create(actor=actor, inspection=inspection, responsible_unit=unit, **kwargs)


def pdf_upload(name: str = "a.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def add_evidence(actor: User, case: Case, name: str = "a.pdf", **kwargs: Any) -> Evidence:
    """A PDF attached to `case` by `actor`, through the service."""
    return services.evidence_add(actor=actor, case_id=case.pk, upload=pdf_upload(name), **kwargs)


# Job and notification rows in a given state, as the ledgers' and reminders' services leave
# them (their own tests drive the services; these are for pages and permissions).


class ExportJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExportJob

    status = Job.Status.DONE


class ImportJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImportJob

    status = Job.Status.DONE
    original_name = "台账.xlsx"


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    title = factory.Sequence(lambda n: f"通知{n}")


@dataclass
class World:
    """A city with its commission, a city department with a sub-unit, and two counties.

    晋城市 ─┬─ 晋城市纪委监委 (commission: supervisor, api_reader)
           ├─ 市局 (city_dept_supervisor: a city bureau) ── 市局分局 (child)
           ├─ 甲县 ─┬─ 甲县纪委监委 (county_a_supervisor: the county's commission)
           │        └─ 甲县局 (inspector_a; dept_supervisor: a county government department)
           │             └─ 甲县局股室 (child of the inspector's unit)
           └─ 乙县 ── 乙县局 (inspector_b: a sibling unit)

    The two department supervisors are supervisors of units that are not commissions: they
    never see a restricted ledger unless a commission grants it to their unit.
    """

    city: Unit
    commission: Unit
    city_dept: Unit
    city_dept_child: Unit
    county_a: Unit
    unit_a: Unit
    unit_a_child: Unit
    county_b: Unit
    unit_b: Unit
    supervisor: User
    api_reader: User
    inspector_a: User
    inspector_a_child: User
    inspector_b: User
    county_a_supervisor: User
    dept_supervisor: User
    city_dept_supervisor: User
    no_unit: User
    admin: User
    inspection: Inspection
    restricted: Inspection

    def case(self, unit: Unit | None = None, **kwargs: Any) -> Case:
        return make_case(
            self.supervisor,
            kwargs.pop("inspection", self.inspection),
            unit or self.unit_a,
            **kwargs,
        )


def build_world() -> World:
    province = make_unit("某省", level=Unit.Level.PROVINCE)
    city = make_unit("晋城市", parent=province, level=Unit.Level.CITY)
    commission = make_unit(
        "晋城市纪委监委", parent=city, is_supervising_body=True, is_responsible_unit=False
    )
    city_dept = make_unit("市局", parent=city)
    city_dept_child = make_unit("市局分局", parent=city_dept)
    county_a = make_unit("甲县", parent=city, level=Unit.Level.COUNTY)
    county_a_commission = make_unit("甲县纪委监委", parent=county_a, is_supervising_body=True)
    unit_a = make_unit("甲县局", parent=county_a)
    unit_a_child = make_unit("甲县局股室", parent=unit_a)
    county_b = make_unit("乙县", parent=city, level=Unit.Level.COUNTY)
    unit_b = make_unit("乙县局", parent=county_b)
    supervisor = make_user(commission, Role.SUPERVISOR, "supervisor")
    world = World(
        city=city,
        commission=commission,
        city_dept=city_dept,
        city_dept_child=city_dept_child,
        county_a=county_a,
        unit_a=unit_a,
        unit_a_child=unit_a_child,
        county_b=county_b,
        unit_b=unit_b,
        supervisor=supervisor,
        api_reader=make_user(commission, Role.API_READER, "api_reader"),
        inspector_a=make_user(unit_a, Role.INSPECTOR, "inspector_a"),
        inspector_a_child=make_user(unit_a_child, Role.INSPECTOR, "inspector_a_child"),
        inspector_b=make_user(unit_b, Role.INSPECTOR, "inspector_b"),
        county_a_supervisor=make_user(county_a_commission, Role.SUPERVISOR, "county_sup"),
        dept_supervisor=make_user(unit_a, Role.SUPERVISOR, "dept_supervisor"),
        city_dept_supervisor=make_user(city_dept, Role.SUPERVISOR, "city_dept_supervisor"),
        no_unit=make_user(None, "", "no_unit"),
        admin=make_superuser("admin"),
        inspection=make_inspection(commission, code="T2023-1"),
        restricted=make_inspection(
            commission, code="T2023-X", kind="clue_ledger", name="问题线索台账"
        ),
    )
    return world


def days(n: int) -> date:
    return timezone.localdate() + timedelta(days=n)


# The moves that bring a new (open) case into each state.
PATH_FROM_OPEN: dict[str, list[str]] = {
    "open": [],
    "in_progress": ["in_progress"],
    "submitted": ["in_progress", "submitted"],
    "completed": ["in_progress", "submitted", "completed"],
    "escalated": ["escalated"],
    "exempted": ["exempted"],
}


def unit_inspector(case: Case) -> User:
    """An inspector of the case's responsible unit (the first one; made if it has none): who
    makes the unit's moves (start, submit, escalate, resume), as the rules want (cases.rules)."""
    unit = case.responsible_unit
    found = User.objects.filter(unit=unit, role=Role.INSPECTOR, is_active=True).order_by("pk")
    return found.first() or make_user(unit, Role.INSPECTOR)


def drive_to(case: Case, status: str, actor: User, *, at: Any = None) -> Case:
    """Move an open case to `status` through the services, with a note on every move: the
    unit's moves by an inspector of its responsible unit (`unit_inspector`, or `actor` if it is
    one), the supervisors' moves (close, exempt…) by `actor`; all checklist points are
    confirmed on close, with a note each."""
    inspector = actor if actor.role == Role.INSPECTOR else unit_inspector(case)
    for target in PATH_FROM_OPEN[status]:
        extra: dict[str, Any] = {}
        if target == "completed":
            points = list(case.checklist.values_list("pk", flat=True))
            extra["confirm"] = points
            extra["notes"] = {pk: "测试：已核实" for pk in points}
        move = MOVES[case.status, Status(target)]
        by = inspector if Role.INSPECTOR in move.roles else actor
        case = services.case_transition(
            actor=by, case_id=case.pk, to=target, note=f"测试：{target}", at=at, **extra
        )
    return case
