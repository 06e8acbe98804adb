"""Reminders (提醒), their delivery as digests, in-app notifications, unit group bots and the
working-day calendar.

A `Reminder` is one fact: "this case, for this reason (kind) in this period (window), goes to
this person or group by this channel". Its unique key makes creating it idempotent, so sweeps
can run twice, at once, or from two beat schedulers without duplicates. A `Delivery` is one
message (a digest of a recipient's new reminders on one channel); it is claimed with a lease
before sending, so a crashed sender's work is picked up again and two senders never share it.

No rules live here: `reminders.rules` decides what is due, `reminders.services` writes.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import Case, CaseEvent, Unit


class Channel(models.TextChoices):
    EMAIL = "email", _("邮件")
    WEBHOOK = "webhook", _("群机器人")
    IN_APP = "in_app", _("站内通知")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")
    CANCELLED = "cancelled", _("已取消")


class SweepRun(models.Model):
    """One run of the sweep (`reminders.services.sweep`). Its reminders are tagged with it and
    put into messages only once it has finished (or its heartbeat is older than the sweep
    lease: the process died), so a delivery overlapping a sweep never splits one
    recipient's digest in two."""

    started_at = models.DateTimeField(_("开始时间"), default=timezone.now)
    beat_at = models.DateTimeField(_("最近心跳"), default=timezone.now)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("提醒扫描")
        verbose_name_plural = _("提醒扫描")

    def __str__(self) -> str:
        return f"sweep #{self.pk} {self.started_at:%Y-%m-%d %H:%M}"


class Reminder(models.Model):
    class Kind(models.TextChoices):
        DUE_SOON = "due_soon", _("临期提醒")
        OVERDUE = "overdue", _("逾期提醒")
        ESCALATION = "escalation", _("逾期升级督办")
        FOLLOW_UP = "follow_up", _("督办")
        # Workflow notifications (reminders.events): one per history event, window
        # "event-<id>", sent by the same digests as the rest.
        SUBMITTED = "submitted", _("申请销号待验收")
        RETURNED = "returned", _("退回整改")
        CLOSED = "closed", _("验收销号")
        EXEMPTED = "exempted", _("纳入负面清单/不予整改")
        REOPENED = "reopened", _("重新整改")
        ESCALATED = "escalated", _("提请上级协调")
        REASSIGNED = "reassigned", _("调整责任")
        REPLIED = "replied", _("督办回复")
        # A look-back's re-check task (lookback), to its checker: window "recheck-<id>/…".
        RECHECK_DUE = "recheck_due", _("复核临期提醒")
        RECHECK_OVERDUE = "recheck_overdue", _("复核逾期提醒")

    Channel = Channel
    Status = DeliveryStatus

    case = models.ForeignKey(
        Case, models.CASCADE, related_name="reminders", verbose_name=_("整改问题")
    )
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    # The period the reminder is for: "<deadline>/d7" (due within 7 days), "<deadline>/o2"
    # (third overdue period), "<deadline>/e0" (first escalation period), "event-<id>" (a
    # follow-up, or a workflow notification: the history row it tells of). The deadline is
    # part of it so that an extension starts the reminders afresh.
    window = models.CharField(_("周期"), max_length=40)
    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices)
    # Exactly one addressee: a person (email, in-app) or a unit's group bot (webhook).
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="reminders",
        verbose_name=_("接收人"),
    )
    unit = models.ForeignKey(
        Unit,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("接收群（单位）"),
    )
    # The history row a follow-up (督办) or workflow notification carries the note of.
    event = models.ForeignKey(
        CaseEvent, models.CASCADE, null=True, blank=True, related_name="+", editable=False
    )
    delivery = models.ForeignKey(
        "Delivery",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="reminders",
        verbose_name=_("所在消息"),
    )
    # The sweep that created it (None: a follow-up or another event's notification).
    # No index of its own: the digest's partial index leads with it.
    sweep = models.ForeignKey(
        SweepRun,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        db_index=False,
    )
    status = models.CharField(
        _("状态"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    created_at = models.DateTimeField(_("生成时间"), default=timezone.now)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("提醒")
        verbose_name_plural = _("提醒")
        ordering = ["-created_at", "-id"]
        constraints = [
            # The key of a reminder (case, kind, window, addressee, channel). Two partial
            # constraints because the addressee is a person or a unit, and NULLs never clash.
            # They also serve "the reminders of a case" (the case page and the API).
            models.UniqueConstraint(
                fields=["case", "kind", "window", "recipient", "channel"],
                condition=models.Q(recipient__isnull=False),
                name="reminder_unique_per_person",
            ),
            models.UniqueConstraint(
                fields=["case", "kind", "window", "unit", "channel"],
                condition=models.Q(unit__isnull=False),
                name="reminder_unique_per_unit",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(recipient__isnull=False, unit__isnull=True)
                    | models.Q(recipient__isnull=True, unit__isnull=False)
                ),
                name="reminder_one_addressee",
            ),
        ]
        indexes = [
            # Serves the digest step (reminders.digest): the new reminders not yet in a
            # message, by sweep and addressee.
            models.Index(
                fields=["sweep", "channel", "recipient", "unit"],
                condition=models.Q(delivery__isnull=True, status="pending"),
                name="reminder_ungrouped_by_sweep",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.window} {self.channel}"

    @property
    def addressee(self) -> object:
        return self.recipient if self.recipient_id else self.unit


class Delivery(models.Model):
    """One message: a recipient's (or a group's) new reminders on one channel, as a digest."""

    Status = DeliveryStatus

    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("接收人"),
    )
    unit = models.ForeignKey(
        Unit,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("接收群（单位）"),
    )
    status = models.CharField(
        _("状态"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    # Incremented when a sender claims the message, so a sender killed mid-send still
    # counts an attempt and a message that kills its senders cannot loop forever.
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次尝试"), default=timezone.now)
    # The lease: until then the claiming sender owns the message; after it, anyone may.
    claimed_until = models.DateTimeField(_("占用至"), null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    last_error = models.TextField(_("最近错误"), blank=True)
    # [{"at": iso, "attempt": n, "error": "..."}], the latest few.
    errors = models.JSONField(_("错误记录"), default=list, blank=True)
    created_at = models.DateTimeField(_("生成时间"), default=timezone.now)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    # The sweep whose reminders it carries (None: event reminders, grouped as they come).
    sweep = models.ForeignKey(
        SweepRun, models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        verbose_name = _("提醒消息")
        verbose_name_plural = _("提醒消息")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A digest: one message per addressee, channel and sweep, enforced by the database.
            models.UniqueConstraint(
                fields=["sweep", "channel", "recipient"],
                condition=models.Q(sweep__isnull=False, recipient__isnull=False),
                name="delivery_one_per_person_sweep",
            ),
            models.UniqueConstraint(
                fields=["sweep", "channel", "unit"],
                condition=models.Q(sweep__isnull=False, unit__isnull=False),
                name="delivery_one_per_unit_sweep",
            ),
        ]
        indexes = [
            # Serves the sender's claim: pending messages whose time has come.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="delivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.channel} → {self.recipient or self.unit}"


class Notification(models.Model):
    """An in-app message (站内通知): what the badge counts and the notification page lists."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="notifications",
        verbose_name=_("接收人"),
    )
    # One notification per in-app message, even if the sender is retried.
    delivery = models.OneToOneField(
        Delivery, models.SET_NULL, null=True, blank=True, related_name="notification"
    )
    title = models.CharField(_("标题"), max_length=200)
    # [{"case": id, "code", "title", "kind", "deadline", "note", "detail"}]: the cases it is
    # about ("detail": what happened, for a workflow notification).
    items = models.JSONField(_("事项"), default=list, blank=True)
    created_at = models.DateTimeField(_("时间"), default=timezone.now)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("站内通知")
        verbose_name_plural = _("站内通知")
        ordering = ["-created_at", "-id"]
        indexes = [
            # Serves the top bar's unread count on every page.
            models.Index(
                fields=["user"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread",
            ),
            # Serves the notification page: a user's latest first.
            models.Index(fields=["user", "-created_at"], name="notification_user_time"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def case_count(self) -> int:
        return len({item.get("case") for item in self.items})


class UnitWebhook(models.Model):
    """A unit's group bot (企业微信 / 钉钉群机器人), which receives its cases' reminders."""

    class Flavour(models.TextChoices):
        WECOM = "wecom", _("企业微信群机器人")
        DINGTALK = "dingtalk", _("钉钉群机器人")

    unit = models.OneToOneField(
        Unit, models.CASCADE, related_name="webhook", verbose_name=_("单位")
    )
    flavour = models.CharField(
        _("类型"), max_length=16, choices=Flavour.choices, default=Flavour.WECOM
    )
    url = models.URLField(
        _("Webhook 地址"), max_length=500, validators=[URLValidator(schemes=["https", "http"])]
    )
    # DingTalk's "加签" security setting; WeCom bots have no secret beyond the URL's key.
    secret = models.CharField(_("加签密钥（钉钉）"), max_length=200, blank=True)
    timeout_seconds = models.PositiveSmallIntegerField(
        _("超时（秒）"), default=5, validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    max_attempts = models.PositiveSmallIntegerField(
        _("最多尝试次数"), default=5, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    enabled = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("单位群机器人")
        verbose_name_plural = _("单位群机器人")

    def __str__(self) -> str:
        return f"{self.unit} · {self.get_flavour_display()}"

    def clean(self) -> None:
        # Every form that edits a bot (the admin's included) validates the model: the target
        # must pass the egress policy now; sending checks it again (DNS answers change).
        from .egress import validate_url

        if self.url:
            try:
                validate_url(self.url)
            except ValidationError as error:
                raise ValidationError({"url": error.messages}) from None


class CalendarDay(models.Model):
    """An override of the national calendar (reminders.calendar): a day off (a local holiday)
    or a day worked (调休上班), e.g. of a year the `chinesecalendar` package does not cover yet.
    With a unit, it is that unit's own (and its subtree's, unless a unit nearer down the tree
    has its own row for the day); without, the site's, for every unit. Admins maintain it; it
    ships empty."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("放假")
        WORKDAY = "workday", _("调休上班")

    date = models.DateField(_("日期"))
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("单位"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="calendar_days",
        help_text=_("留空为全部单位；填写后仅适用于该单位及其下级单位。"),
    )
    name = models.CharField(_("节日"), max_length=50, blank=True)
    # Where the day comes from (the State Council notice), or why it is an assumption.
    source = models.CharField(_("依据"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("节假日与调休")
        verbose_name_plural = _("节假日与调休")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["date"],
                condition=models.Q(unit__isnull=True),
                name="calendar_day_site_once",
                violation_error_message=_("全部单位的这一天已经设置过。"),
            ),
            models.UniqueConstraint(
                fields=["unit", "date"],
                name="calendar_day_unit_once",
                violation_error_message=_("该单位的这一天已经设置过。"),
            ),
        ]

    def __str__(self) -> str:
        where = self.unit.name if self.unit_id and self.unit else _("全部单位")
        return f"{self.date} {where} {self.get_kind_display()} {self.name}"
