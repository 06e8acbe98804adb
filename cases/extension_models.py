"""Extension requests (延期申请), imported by `cases.models`: the unit asks for a later
deadline with a reason; a supervisor approves (the deadline changes, recorded in the case's
history) or refuses. Written only by the services."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ExtensionRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("待审批")
        APPROVED = "approved", _("已同意")
        REFUSED = "refused", _("未同意")

    case = models.ForeignKey(
        "cases.Case", models.CASCADE, related_name="extension_requests", verbose_name=_("整改问题")
    )
    # The deadline when asked, and the one asked for.
    current_deadline = models.DateField(_("原时限"))
    deadline = models.DateField(_("申请延至"))
    reason = models.TextField(_("申请理由"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name=_("申请人")
    )
    requested_at = models.DateTimeField(_("申请时间"), default=timezone.now)
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("审批人"),
    )
    decided_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    decision_note = models.TextField(_("审批意见"), blank=True)

    class Meta:
        verbose_name = _("延期申请")
        verbose_name_plural = _("延期申请")
        ordering = ["-requested_at", "-id"]
        constraints = [
            # One open request per case: a second waits until the first is decided.
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(status="pending"),
                name="extension_request_one_pending",
                violation_error_message=_("该问题已有待审批的延期申请。"),
            ),
        ]
        indexes = [
            # Serves the 延期申请 inbox: the pending requests.
            models.Index(
                fields=["requested_at"],
                condition=models.Q(status="pending"),
                name="extension_request_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.current_deadline} → {self.deadline}"
