"""Writes to the organisation: units, users and inspections. Each is audited
(`audit.services.audit_record`); the web pages, the admin and the loaders share them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEntry
from audit.services import audit_record, changes_between

from .accounts import check_role, user_values
from .errors import InvalidInput
from .models import Inspection, Unit, User

AuditAction = AuditEntry.Action


def _unit_values(unit: Unit) -> dict[str, Any]:
    return {
        "name": unit.name,
        "level": unit.level,
        "parent": unit.parent_id,
        "is_supervising_body": unit.is_supervising_body,
        "is_responsible_unit": unit.is_responsible_unit,
    }


@transaction.atomic
def unit_create(
    *,
    name: str,
    level: str,
    parent: Unit | None = None,
    is_supervising_body: bool = False,
    is_responsible_unit: bool = True,
    actor: Any = None,
    request: Any = None,
) -> Unit:
    name = _require_free_unit_name(name, parent_id=parent.pk if parent else None)
    unit = Unit.objects.create(
        name=name,
        level=level,
        parent=parent,
        is_supervising_body=is_supervising_body,
        is_responsible_unit=is_responsible_unit,
    )
    # The path needs the new id; the region is the nearest county-level area.
    unit.path = f"{parent.path if parent else '/'}{unit.pk}/"
    if level == Unit.Level.COUNTY:
        unit.region = unit
    elif parent is not None:
        unit.region = parent.region
    unit.save(update_fields=["path", "region"])
    audit_record(
        actor=actor,
        action=AuditAction.UNIT_CREATE,
        target=unit,
        changes=changes_between({}, _unit_values(unit)),
        request=request,
    )
    return unit


def _require_free_unit_name(name: str, *, parent_id: int | None, unit_id: int | None = None) -> str:
    """`name` if it is not blank and no other unit under the same parent (or no other root)
    has it: refused as a form error here rather than as the database's constraint error."""
    if not (name or "").strip():
        raise InvalidInput(_("请填写单位名称。"), fields={"name": [_("请填写单位名称。")]})
    taken = Unit.objects.filter(name=name)
    taken = taken.filter(parent_id=parent_id) if parent_id else taken.filter(parent__isnull=True)
    if unit_id is not None:
        taken = taken.exclude(pk=unit_id)
    if taken.exists():
        message = _("同一上级单位下已有同名单位：%(name)s") % {"name": name}
        raise InvalidInput(message, fields={"name": [message]})
    return name


@transaction.atomic
def unit_update(
    *,
    unit: Unit,
    name: str,
    is_supervising_body: bool,
    is_responsible_unit: bool,
    actor: Any = None,
    request: Any = None,
) -> Unit:
    """Rename a unit or change its flags; moving it in the tree is not an edit."""
    locked = Unit.objects.select_for_update().get(pk=unit.pk)
    name = _require_free_unit_name(
        (name or "").strip(), parent_id=locked.parent_id, unit_id=locked.pk
    )
    before = _unit_values(locked)
    Unit.objects.filter(pk=unit.pk).update(
        name=name,
        is_supervising_body=is_supervising_body,
        is_responsible_unit=is_responsible_unit,
    )
    unit.refresh_from_db()
    changes = changes_between(before, _unit_values(unit))
    if changes:
        audit_record(
            actor=actor,
            action=AuditAction.UNIT_UPDATE,
            target=unit,
            changes=changes,
            request=request,
        )
    return unit


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None,
    unit: Unit | None,
    role: str,
    full_name: str = "",
    email: str = "",
    is_superuser: bool = False,
    actor: Any = None,
    request: Any = None,
) -> User:
    check_role(role, unit, is_superuser)
    user = User(
        username=username,
        unit=unit,
        role=role,
        full_name=full_name,
        email=email,
        is_superuser=is_superuser,
        is_staff=is_superuser,
    )
    if password:
        try:
            validate_password(password, user)  # AUTH_PASSWORD_VALIDATORS: 12 characters and more
        except ValidationError as error:
            raise InvalidInput(
                " ".join(error.messages), fields={"password": error.messages}
            ) from None
    user.set_password(password) if password else user.set_unusable_password()
    user.save()
    audit_record(
        actor=actor,
        action=AuditAction.USER_CREATE,
        target=user,
        changes=changes_between({}, user_values(user)),
        request=request,
    )
    return user


# --- Inspections -------------------------------------------------------------------------


def _inspection_values(inspection: Inspection) -> dict[str, Any]:
    return {
        "code": inspection.code,
        "name": inspection.name,
        "kind": inspection.kind,
        "year": inspection.year,
        "issuing_unit": inspection.issuing_unit_id,
        "supervising_unit": inspection.supervising_unit_id,
        "restricted": inspection.restricted,
    }


@transaction.atomic
def inspection_create(
    *,
    name: str,
    kind: str,
    year: int,
    issuing_unit: Unit,
    supervising_unit: Unit | None = None,
    code: str = "",
    restricted: bool | None = None,
    actor: Any = None,
    request: Any = None,
) -> Inspection:
    if kind not in Inspection.Kind.values:
        raise InvalidInput(_("未知的检查类型：%(kind)s") % {"kind": kind})
    if code and Inspection.objects.filter(code=code).exists():
        raise InvalidInput(_("检查编号已存在：%(code)s") % {"code": code})
    if restricted is None:
        # A clue ledger is sensitive by nature; anything else is visible to the units.
        restricted = kind == Inspection.Kind.CLUE_LEDGER
    inspection = Inspection.objects.create(
        name=name,
        kind=kind,
        year=year,
        issuing_unit=issuing_unit,
        supervising_unit=supervising_unit or issuing_unit,
        code=code or f"tmp-{timezone.now().timestamp()}",
        restricted=restricted,
    )
    if not code:
        inspection.code = f"JC{year}-{inspection.pk:03d}"
        inspection.save(update_fields=["code"])
    audit_record(
        actor=actor,
        action=AuditAction.INSPECTION_CREATE,
        target=inspection,
        changes=changes_between({}, _inspection_values(inspection)),
        request=request,
    )
    return inspection


INSPECTION_EDITABLE = ("name", "year", "supervising_unit", "restricted")


@transaction.atomic
def inspection_update(
    *, inspection: Inspection, actor: Any = None, request: Any = None, **values: Any
) -> Inspection:
    unknown = set(values) - set(INSPECTION_EDITABLE)
    if unknown:
        raise InvalidInput(_("不能修改：%(fields)s") % {"fields": ", ".join(sorted(unknown))})
    if "name" in values and not str(values["name"]).strip():
        raise InvalidInput(_("请填写检查名称。"), fields={"name": [_("请填写检查名称。")]})
    before = _inspection_values(Inspection.objects.select_for_update().get(pk=inspection.pk))
    Inspection.objects.filter(pk=inspection.pk).update(**values)
    inspection.refresh_from_db()
    changes = changes_between(before, _inspection_values(inspection))
    if changes:
        audit_record(
            actor=actor,
            action=AuditAction.INSPECTION_UPDATE,
            target=inspection,
            changes=changes,
            request=request,
        )
    return inspection
