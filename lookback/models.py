"""The look-back (回头看 / 抽查复核) and accountability (问责).

- `LookBack`: one spot re-check of closed cases, with what makes its sample auditable: the
  population query (the filters), the population's ids and size, the seed and the drawn ids
  (`lookback.sampling` re-draws them).
- `RecheckTask`: one drawn case for a named checker, with its own deadline (and reminders,
  through `reminders.task_deadlines`). It ends confirmed or as a false rectification, which
  reopens the case (`lookback.services.recheck_decide`). The unit, inspection and region of
  the close it re-checks are kept on it: the failure rate counts against that close.
- `AccountabilityRecord`: a measure (约谈、通报批评、诫勉、党纪政务处分…) against a person of a
  unit, for a case or one of its re-checks; the commission's alone (`lookback.selectors`).

No rules live here: `lookback.services` writes, `lookback.selectors` reads.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import Case, Inspection, Unit


class LookBack(models.Model):
    name = models.CharField(_("名称"), max_length=200)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name=_("发起人")
    )
    # The starter's commission when it started: who else may follow it (its jurisdiction).
    unit = models.ForeignKey(Unit, models.PROTECT, related_name="+", verbose_name=_("发起单位"))
    # The population query, as given: {"inspection", "unit", "region", "closed_before"}.
    filters = models.JSONField(_("抽样范围"), default=dict)
    population_size = models.PositiveIntegerField(_("总体数量"))
    # The population's case ids in the order drawn from (by id): a re-draw needs no more.
    population_ids = models.JSONField(_("总体"), default=list, editable=False)
    seed = models.BigIntegerField(_("随机种子"))
    percentage = models.PositiveSmallIntegerField(_("抽样比例（%）"), null=True, blank=True)
    drawn_ids = models.JSONField(_("抽中问题"), default=list, editable=False)
    deadline = models.DateField(_("复核时限"))
    created_at = models.DateTimeField(_("发起时间"), default=timezone.now)

    class Meta:
        verbose_name = _("回头看")
        verbose_name_plural = _("回头看")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def sample_size(self) -> int:
        return len(self.drawn_ids)


class RecheckTask(models.Model):
    class Outcome(models.TextChoices):
        PENDING = "pending", _("待复核")
        CONFIRMED = "confirmed", _("整改属实")
        FALSE = "false", _("虚假整改/纸面整改")

    lookback = models.ForeignKey(
        LookBack, models.CASCADE, related_name="tasks", verbose_name=_("回头看")
    )
    case = models.ForeignKey(
        Case, models.PROTECT, related_name="rechecks", verbose_name=_("整改问题")
    )
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name=_("复核人")
    )
    deadline = models.DateField(_("复核时限"))
    # The close re-checked, as it stood when drawn: the figures count a failure against it.
    closed_at = models.DateTimeField(_("原销号时间"), null=True)
    inspection = models.ForeignKey(
        Inspection, models.PROTECT, related_name="+", verbose_name=_("检查")
    )
    responsible_unit = models.ForeignKey(
        Unit, models.PROTECT, related_name="+", verbose_name=_("原责任单位")
    )
    region = models.ForeignKey(
        Unit, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("区县")
    )
    outcome = models.CharField(
        _("复核结论"), max_length=16, choices=Outcome.choices, default=Outcome.PENDING
    )
    finding = models.TextField(_("复核发现"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("复核认定人"),
    )
    decided_at = models.DateTimeField(_("认定时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("复核任务")
        verbose_name_plural = _("复核任务")
        ordering = ["deadline", "id"]
        constraints = [
            models.UniqueConstraint(fields=["lookback", "case"], name="recheck_once_per_lookback"),
            # One open re-check of a case at a time: two look-backs never race to reopen it.
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(outcome="pending"),
                name="recheck_one_open_per_case",
            ),
        ]
        indexes = [
            # Serves the reminders' sweep: the open tasks by deadline.
            models.Index(
                fields=["deadline"],
                condition=models.Q(outcome="pending"),
                name="recheck_pending_deadline",
            ),
            # Serve the failure figures grouped by unit, inspection or region.
            models.Index(fields=["responsible_unit", "outcome"], name="recheck_unit_outcome"),
            models.Index(fields=["inspection", "outcome"], name="recheck_inspection_outcome"),
            models.Index(fields=["region", "outcome"], name="recheck_region_outcome"),
        ]

    def __str__(self) -> str:
        return f"{self.lookback_id}/{self.case_id} {self.outcome}"

    @property
    def is_open(self) -> bool:
        return self.outcome == self.Outcome.PENDING


class AccountabilityRecord(models.Model):
    class Measure(models.TextChoices):
        TALK = "talk", _("约谈")
        CRITICISM = "criticism", _("通报批评")
        ADMONITION = "admonition", _("诫勉")
        ORGANISATIONAL = "organisational", _("组织处理")
        DISCIPLINE = "discipline", _("党纪政务处分")
        OTHER = "other", _("其他")

    case = models.ForeignKey(
        Case, models.PROTECT, related_name="accountability", verbose_name=_("整改问题")
    )
    recheck = models.ForeignKey(
        RecheckTask,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="accountability",
        verbose_name=_("复核任务"),
    )
    # Who was held to account: often not a user of the system (a former director).
    person_name = models.CharField(_("被问责人"), max_length=100)
    person_title = models.CharField(_("职务"), max_length=100, blank=True)
    unit = models.ForeignKey(Unit, models.PROTECT, related_name="+", verbose_name=_("所在单位"))
    measure = models.CharField(_("问责方式"), max_length=16, choices=Measure.choices)
    decided_on = models.DateField(_("问责日期"))
    document_number = models.CharField(_("决定文号"), max_length=100)
    note = models.TextField(_("说明"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, related_name="+", verbose_name=_("登记人")
    )
    recorded_at = models.DateTimeField(_("登记时间"), default=timezone.now)

    class Meta:
        verbose_name = _("问责记录")
        verbose_name_plural = _("问责记录")
        ordering = ["-decided_on", "-id"]
        # The case foreign key's own index serves the counts grouped by the case's group.

    def __str__(self) -> str:
        return f"{self.person_name} {self.get_measure_display()} {self.document_number}"
