"""Writes to the organisation: units, users and inspections. Each is audited
(`audit.services.audit_record`); the web pages, the admin and the loaders share them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEntry
from audit.services import audit_record, changes_between

from . import selectors
from .accounts import check_role, user_values
from .errors import Forbidden, InvalidInput
from .models import Inspection, Unit, User
from .permissions import Action, require

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

# The fields of an inspection a supervisor sets besides its name and kind: the feedback
# (问题清单) as the letter gives it and the rules of its cases.
INSPECTION_FEEDBACK = (
    "round",
    "feedback_date",
    "rectification_deadline",
    "requires_evidence",
    "max_extensions",
    "working_days",
)
MAX_INSPECTION_CODE = Inspection._meta.get_field("code").max_length or 32
MAX_ROUND = Inspection._meta.get_field("round").max_length or 50


def _inspection_values(inspection: Inspection) -> dict[str, Any]:
    return {
        "code": inspection.code,
        "name": inspection.name,
        "kind": inspection.kind,
        "year": inspection.year,
        "issuing_unit": inspection.issuing_unit_id,
        "supervising_unit": inspection.supervising_unit_id,
        "restricted": inspection.restricted,
        "round": inspection.round,
        "feedback_date": _date(inspection.feedback_date),
        "rectification_deadline": _date(inspection.rectification_deadline),
        "requires_evidence": inspection.requires_evidence,
        "max_extensions": inspection.max_extensions,
        "working_days": inspection.working_days,
        "inspected_units": sorted(inspection.inspected_units.values_list("pk", flat=True)),
    }


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _require_valid_inspection(
    actor: Any,
    values: dict[str, Any],
    *,
    changed: dict[str, Any] | None = None,
    inspection_id: int | None = None,
) -> None:
    """Refuse an inspection's fields, every bad one at once (`fields`), before anything is
    written. `values`: the inspection as it would be; `changed`: what the write sets (all of
    `values` for a new one). With an actor (the pages, the admin), the units it sets must be
    in the actor's scope, as a case's are (`case_create`); loaders without one (the demo) are
    trusted."""
    errors: dict[str, list[str]] = {}

    def refuse(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not str(values.get("name") or "").strip():
        refuse("name", _("请填写检查名称。"))
    if values.get("kind") not in Inspection.Kind.values:
        refuse("kind", _("未知的检查类型：%(kind)s") % {"kind": values.get("kind")})
    year = values.get("year")
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        refuse("year", _("年度须在 2000 至 2100 之间。"))
    code = values.get("code") or ""
    if len(code) > MAX_INSPECTION_CODE:
        refuse("code", _("检查编号不超过 %(max)s 个字符。") % {"max": MAX_INSPECTION_CODE})
    elif code and Inspection.objects.filter(code=code).exclude(pk=inspection_id or 0).exists():
        refuse("code", _("检查编号已存在：%(code)s") % {"code": code})
    if len(values.get("round") or "") > MAX_ROUND:
        refuse("round", _("轮次不超过 %(max)s 个字。") % {"max": MAX_ROUND})
    feedback, deadline = values.get("feedback_date"), values.get("rectification_deadline")
    if feedback and deadline and feedback > deadline:
        refuse("rectification_deadline", _("整改期限不能早于反馈日期。"))
    cap = values.get("max_extensions")
    if values.get("kind") == Inspection.Kind.CLUE_LEDGER and not values.get("restricted"):
        refuse("kind", _("问题线索台账须为限定台账。"))
    if cap is not None and not 0 <= cap <= 100:
        refuse("max_extensions", _("延期次数上限须在 0 至 100 之间（不限请留空）。"))
    if actor is not None:
        _require_units_in_scope(actor, values if changed is None else changed, refuse)
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], fields=errors)


def _require_units_in_scope(actor: Any, values: dict[str, Any], refuse: Any) -> None:
    require(actor, Action.INSPECTION)
    visible = selectors.visible_units(actor)
    for field in ("issuing_unit", "supervising_unit"):
        unit = values.get(field)
        if unit is not None and not visible.filter(pk=unit.pk).exists():
            refuse(field, _("“%(unit)s”不在您的管辖范围内。") % {"unit": unit.name})
    inspected = list(values.get("inspected_units") or ())
    seen = set(visible.filter(pk__in=[u.pk for u in inspected]).values_list("pk", flat=True))
    for unit in inspected:
        if unit.pk not in seen:
            refuse("inspected_units", _("“%(unit)s”不在您的管辖范围内。") % {"unit": unit.name})
    # A restricted ledger is the commission's alone: anyone else would lose sight of it.
    if values.get("restricted") and not (
        selectors.sees_everything(actor) or selectors.is_commission_supervisor(actor)
    ):
        refuse("kind", _("只有纪委监委的监督人员可以建立限定台账。"))


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
    inspected_units: Iterable[Unit] = (),
    actor: Any = None,
    request: Any = None,
    **feedback: Any,
) -> Inspection:
    """Register an inspection; `feedback`: any of INSPECTION_FEEDBACK (round, feedback date,
    rectification period, the rules of its cases)."""
    unknown = set(feedback) - set(INSPECTION_FEEDBACK)
    if unknown:
        raise InvalidInput(_("不能设置：%(fields)s") % {"fields": ", ".join(sorted(unknown))})
    if restricted is None:
        # A clue ledger is sensitive by nature; anything else is visible to the units.
        restricted = kind == Inspection.Kind.CLUE_LEDGER
    inspected = list(inspected_units)
    supervising_unit = supervising_unit or issuing_unit
    _require_valid_inspection(actor, {
        "name": name, "kind": kind, "year": year, "code": code, "issuing_unit": issuing_unit,
        "supervising_unit": supervising_unit, "restricted": restricted,
        "inspected_units": inspected, **feedback,
    })  # fmt: skip
    inspection = Inspection.objects.create(
        name=name.strip(),
        kind=kind,
        year=year,
        issuing_unit=issuing_unit,
        supervising_unit=supervising_unit,
        code=code or f"tmp-{timezone.now().timestamp()}",
        restricted=restricted,
        # Empty booleans and round take the model's defaults; empty dates and cap are None.
        **{field: value for field, value in feedback.items() if value is not None},
    )
    if not code:
        inspection.code = f"JC{year}-{inspection.pk:03d}"
        inspection.save(update_fields=["code"])
    inspection.inspected_units.set(inspected)
    audit_record(
        actor=actor,
        action=AuditAction.INSPECTION_CREATE,
        target=inspection,
        changes=changes_between({}, _inspection_values(inspection)),
        request=request,
    )
    return inspection


INSPECTION_EDITABLE = (
    "name", "code", "kind", "year", "supervising_unit", "restricted", "inspected_units",
    *INSPECTION_FEEDBACK,
)  # fmt: skip


@transaction.atomic
def inspection_update(
    *, inspection: Inspection, actor: Any = None, request: Any = None, **values: Any
) -> Inspection:
    """Change an inspection's fields (INSPECTION_EDITABLE). With an actor who is not a
    superuser, only an inspection issued or supervised within the actor's scope
    (`selectors.managed_inspections`); lifting a restriction is for superusers (the admin)."""
    unknown = set(values) - set(INSPECTION_EDITABLE)
    if unknown:
        raise InvalidInput(_("不能修改：%(fields)s") % {"fields": ", ".join(sorted(unknown))})
    locked = Inspection.objects.select_for_update().get(pk=inspection.pk)
    if actor is not None:
        require(actor, Action.INSPECTION)  # before the lookup: the same answer for any id
        if not selectors.managed_inspections(actor).filter(pk=locked.pk).exists():
            raise Forbidden(_("只能修改本单位发起或监督的检查。"))
        if locked.restricted and values.get("restricted") is False and not actor.is_superuser:
            message = _("解除限定只能由系统管理员操作。")
            raise Forbidden(message, fields={"restricted": [message]})
    before = _inspection_values(locked)
    after = {field: getattr(locked, field) for field in INSPECTION_EDITABLE[:6]}
    after |= {field: getattr(locked, field) for field in INSPECTION_FEEDBACK}
    after |= {"issuing_unit": locked.issuing_unit, "inspected_units": None, **values}
    if "inspected_units" in values:
        after["inspected_units"] = list(values["inspected_units"])
    _require_valid_inspection(actor, after, changed=values, inspection_id=locked.pk)
    fields = {k: (v.strip() if k == "name" else v) for k, v in values.items()
              if k != "inspected_units"}  # fmt: skip
    if fields:
        Inspection.objects.filter(pk=inspection.pk).update(**fields)
    if "inspected_units" in values:
        locked.inspected_units.set(after["inspected_units"])
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
