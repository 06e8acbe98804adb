"""Restricted-ledger grants (限定台账授权), imported by `cases.models`."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import record_guards


class RestrictedGrant(models.Model):
    """A commission lets one unit read one restricted ledger (问题线索台账).

    The grant covers the unit itself, not its sub-units: a commission hands a clue ledger to
    the office that works on it, and every further unit needs its own, recorded, decision.
    What the unit's people then see of the ledger is still bounded by their usual scope
    (`cases.selectors.restricted_q`). Rows are never deleted: a revocation is written onto the
    row, so the record of who could read the ledger, and when, stays. Made and revoked only
    by `cases.grants.restricted_grant_create` / `restricted_grant_revoke`.
    """

    inspection = models.ForeignKey(
        "cases.Inspection", models.PROTECT, related_name="grants", verbose_name=_("检查/台账")
    )
    unit = models.ForeignKey(
        "cases.Unit", models.PROTECT, related_name="restricted_grants", verbose_name=_("授权单位")
    )
    reason = models.TextField(_("授权理由"))
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name=_("授权人")
    )
    granted_at = models.DateTimeField(_("授权时间"), default=timezone.now)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("撤销人"),
    )
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    revoke_reason = models.TextField(_("撤销理由"), blank=True)

    class Meta:
        verbose_name = _("限定台账授权")
        verbose_name_plural = _("限定台账授权")
        ordering = ["-granted_at", "-id"]
        triggers = [record_guards.GRANT_REVOKED_ONCE]
        constraints = [
            # One live grant per ledger and unit: two commission staff granting at once
            # cannot leave two rows of which revoking one still leaves access.
            models.UniqueConstraint(
                fields=["inspection", "unit"],
                condition=models.Q(revoked_at__isnull=True),
                name="restricted_grant_one_live",
            ),
        ]
        indexes = [
            # Serves every scoped read of a non-commission user: the live grants of one unit.
            models.Index(
                fields=["unit"],
                condition=models.Q(revoked_at__isnull=True),
                name="restricted_grant_live_unit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inspection} → {self.unit}"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None
