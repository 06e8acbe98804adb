"""Restricted ledgers: the only two places a grant changes.

Only a commission's supervisor grants, only a ledger that commission itself sees and only to a
unit of its jurisdiction, so a grant never shows anyone more than the granting commission sees.
Both are audited.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEntry
from audit.services import audit_record

from . import selectors
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .models import Inspection, RestrictedGrant

AuditAction = AuditEntry.Action


def _require_commission_supervisor(actor: Any) -> None:
    if not selectors.is_commission_supervisor(actor):
        raise Forbidden(_("只有纪委监委的监督人员可以授权或撤销限定台账的查看权限。"))


@transaction.atomic
def restricted_grant_create(
    *, actor: Any, inspection_id: Any, unit_id: Any, reason: str, request: Any = None
) -> RestrictedGrant:
    """Let the people of `unit` read the restricted ledger `inspection` (within their scope)."""
    _require_commission_supervisor(actor)
    reason = (reason or "").strip()
    if not reason:
        message = _("请填写授权理由。")
        raise InvalidInput(message, fields={"reason": [message]})
    try:
        visible = selectors.grantable_inspections(actor).filter(pk=inspection_id).exists()
        unit = selectors.visible_units(actor).filter(pk=unit_id).first()
    except (ValueError, TypeError):
        visible, unit = False, None
    if not visible:
        message = _("未找到该限定台账，或您无权授权。")
        raise InvalidInput(message, fields={"inspection": [message]})
    if unit is None:
        message = _("请选择您管辖范围内的单位。")
        raise InvalidInput(message, fields={"unit": [message]})
    # The ledger's row lock queues two grants of it: the second sees the first (and the
    # partial unique constraint stops any writer that does not take the lock).
    inspection = Inspection.objects.select_for_update().get(pk=inspection_id)
    if RestrictedGrant.objects.filter(
        inspection=inspection, unit=unit, revoked_at__isnull=True
    ).exists():
        raise Conflict(_("“%(unit)s”已获该台账的授权。") % {"unit": unit.name})
    try:
        with transaction.atomic():
            grant = RestrictedGrant.objects.create(
                inspection=inspection,
                unit=unit,
                reason=reason,
                granted_by=actor,
                granted_at=timezone.now(),
            )
    except IntegrityError:
        raise Conflict(_("“%(unit)s”已获该台账的授权。") % {"unit": unit.name}) from None
    audit_record(
        actor=actor,
        action=AuditAction.GRANT_CREATE,
        target=grant,
        changes={"inspection": [None, inspection.pk], "unit": [None, unit.pk]},
        note=reason,
        request=request,
    )
    return grant


@transaction.atomic
def restricted_grant_revoke(
    *, actor: Any, grant_id: Any, reason: str = "", request: Any = None
) -> RestrictedGrant:
    """End a grant. The row stays, with who revoked it, when and why."""
    _require_commission_supervisor(actor)
    try:
        found = selectors.restricted_grants(actor).filter(pk=grant_id).exists()
    except (ValueError, TypeError):
        found = False
    if not found:
        raise NotFound(_("未找到该授权，或您无权撤销。"))
    grant = RestrictedGrant.objects.select_for_update().get(pk=grant_id)
    if grant.revoked_at is not None:
        raise Conflict(_("该授权已撤销。"))
    grant.revoked_by = actor
    grant.revoked_at = timezone.now()
    grant.revoke_reason = (reason or "").strip()
    grant.save(update_fields=["revoked_by", "revoked_at", "revoke_reason"])
    audit_record(
        actor=actor,
        action=AuditAction.GRANT_REVOKE,
        target=grant,
        changes={"revoked": [False, True]},
        note=grant.revoke_reason,
        request=request,
    )
    return grant
