"""Units, users, inspections, cases and their append-only history.

No business rules live here: writes go through `cases.services`, reads through
`cases.selectors`. Models only describe the data and the indexes that serve the queries.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pgtrigger
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tracker.fields import StoredFileField

from . import record_guards, tally_sql
from .display import display_of
from .evidence_files import evidence_path, evidence_storage
from .extension_models import ExtensionRequest  # noqa: F401  (this app's)
from .grant_models import RestrictedGrant  # noqa: F401  (this app's)
from .lights import days_overdue, light_of
from .tally_models import CompletionSnapshot, CompletionTally, TallyDay  # noqa: F401  (this app's)
from .workflow import DONE_STATES, Role, Status


def _after(name: str, operation: Any, func: str, declare: list, **tables: str) -> Any:
    """A statement trigger run after `operation`, its transition tables named `tables`."""
    return pgtrigger.Trigger(
        name=name, when=pgtrigger.After, operation=operation, level=pgtrigger.Statement,
        referencing=pgtrigger.Referencing(**tables), declare=declare, func=func,
    )  # fmt: skip


class Unit(models.Model):
    """A node of the organisation tree: province → city → county-level area → departments."""

    class Level(models.TextChoices):
        PROVINCE = "province", _("省")
        CITY = "city", _("市")
        COUNTY = "county", _("县（市、区）")
        DEPARTMENT = "department", _("部门/单位")

    name = models.CharField(_("名称"), max_length=200)
    parent = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("上级单位"),
    )
    level = models.CharField(_("层级"), max_length=16, choices=Level.choices)
    is_supervising_body = models.BooleanField(_("纪检监察机关"), default=False)
    is_responsible_unit = models.BooleanField(_("责任单位"), default=True)
    # Materialised path of ids ("/1/7/42/"): a subtree is one indexed prefix match, which is
    # how every scoped query finds "this unit and everything under it".
    path = models.CharField(_("路径"), max_length=255, editable=False, default="")
    # The county-level area the unit belongs to (itself for an area); empty above county level.
    region = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("所属区县"),
        editable=False,
    )

    class Meta:
        verbose_name = _("单位")
        verbose_name_plural = _("单位")
        ordering = ["path"]
        indexes = [
            # Serves subtree scoping: path LIKE '/1/7/%'.
            models.Index(
                fields=["path"], name="unit_path_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="unit_unique_name_in_parent"),
            # NULL parents are all distinct to the one above: roots need their own rule.
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(parent__isnull=True), name="unit_unique_root"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return self.path.count("/") - 1

    @property
    def lineage(self) -> list[int]:
        """The ids from the root down to this unit."""
        return path_ids(self.path) or [self.pk]


def path_ids(path: str) -> list[int]:
    """The ids of a materialised path ("/1/7/42/"), root first."""
    return [int(part) for part in path.strip("/").split("/") if part]


class User(AbstractUser):
    """A person or API client. Belongs to one unit, with one role."""

    Role = Role

    full_name = models.CharField(_("姓名"), max_length=100, blank=True)
    unit = models.ForeignKey(
        Unit,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        verbose_name=_("所属单位"),
    )
    role = models.CharField(_("角色"), max_length=16, choices=Role.choices, blank=True)

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    def __str__(self) -> str:
        return self.full_name or self.username

    def get_full_name(self) -> str:
        return self.full_name or super().get_full_name() or self.username


class ApiToken(models.Model):
    """An API token (`Authorization: Token <key>`). Only the SHA-256 of the key is stored: the
    key is shown once, when it is made, and a copy of the database authenticates nobody.

    A token is usable while it is not revoked, not expired, its user is active and the user's
    password is the one it was issued under (`password_fingerprint`, like Django's session
    auth hash): a password set by any path (the page, the reset link, the admin, a shell)
    ends every token issued before. Its status is computed by cases.tokens, never stored.
    """

    user = models.ForeignKey(
        User, models.CASCADE, related_name="api_tokens", verbose_name=_("用户")
    )
    name = models.CharField(_("名称"), max_length=50)
    # The key's first characters, to tell tokens apart in the list (not enough to guess it).
    key_prefix = models.CharField(_("前缀"), max_length=8)
    # Unique, hence indexed: the lookup of every token-authenticated request.
    key_hash = models.CharField(max_length=64, unique=True)
    password_fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    expires_at = models.DateTimeField(_("到期时间"))
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("API 令牌")
        verbose_name_plural = _("API 令牌")
        constraints = [
            # One unrevoked token per name and user: the database refuses a second one even
            # if two requests race past the service's check.
            models.UniqueConstraint(
                fields=["user", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="api_token_one_per_name",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"


class Inspection(models.Model):
    """An inspection, plan or ledger that feeds back problems (专项检查, 巡视巡察, 整改方案…)."""

    class Kind(models.TextChoices):
        SPECIAL = "special", _("专项检查")
        TOUR = "tour", _("巡视巡察")
        PLAN = "plan", _("整改方案")
        KEY_PROBLEMS = "key_problems", _("重点难点问题清单")
        CLUE_LEDGER = "clue_ledger", _("问题线索台账")

    code = models.CharField(_("编号"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=300)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    year = models.PositiveSmallIntegerField(_("年度"))
    issuing_unit = models.ForeignKey(
        Unit,
        models.PROTECT,
        related_name="issued_inspections",
        verbose_name=_("发起单位"),
    )
    supervising_unit = models.ForeignKey(
        Unit,
        models.PROTECT,
        related_name="supervised_inspections",
        verbose_name=_("监督单位"),
    )
    # A restricted ledger (the clue ledger) is for the commission's supervisors only.
    restricted = models.BooleanField(_("限定纪委监委可见"), default=False)
    # The feedback (问题清单) as the letter gives it: who was inspected, in which round, when
    # the feedback came and by when it is to be rectified (the default deadline of its cases).
    inspected_units = models.ManyToManyField(
        Unit, blank=True, related_name="inspected_in", verbose_name=_("被检查单位")
    )
    round = models.CharField(_("轮次"), max_length=50, blank=True, db_default="")
    feedback_date = models.DateField(_("反馈日期"), null=True, blank=True)
    rectification_deadline = models.DateField(_("整改期限"), null=True, blank=True)
    # Rules of this inspection's cases: evidence to submit (and a note on every verification
    # point to close), the most deadline extensions a case may have (empty: no cap), and
    # whether deadlines count working days (reminders.calendar).
    requires_evidence = models.BooleanField(_("销号须附佐证材料"), default=False, db_default=False)
    max_extensions = models.PositiveSmallIntegerField(_("延期次数上限"), null=True, blank=True)
    working_days = models.BooleanField(_("按工作日计算时限"), default=False, db_default=False)
    # Last number handed out to a case of this inspection; bumped under the row lock.
    last_case_number = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("检查/台账")
        verbose_name_plural = _("检查/台账")
        ordering = ["-year", "code"]
        # A changed working_days recounts its cases' lights in the roll-ups (cases.tally).
        triggers = [
            _after("tally_working_days", pgtrigger.Update, tally_sql.on_inspection_flag(),
                   tally_sql.TALLY_DECLARE, old="old_rows", new="new_rows"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.name


class Case(models.Model):
    """A feedback problem, or one item of a problem (the 58 licensing items are 58 cases)."""

    Status = Status

    class Source(models.TextChoices):
        PROVINCE_FEEDBACK = "province_feedback", _("省级反馈")
        CITY_FEEDBACK = "city_feedback", _("市级反馈")
        SELF_FOUND = "self_found", _("自查发现")

    class Method(models.TextChoices):
        NEGATIVE_LIST = "negative_list", _("纳入负面清单")
        WINDOW_AUTHORISATION = "window_authorisation", _("对原有窗口充分授权")
        NEW_WINDOW = "new_window", _("新设窗口")
        ENTRUSTED = "entrusted", _("委托受理")
        OTHER = "other", _("其他")

    code = models.CharField(_("问题编号"), max_length=64, unique=True)
    title = models.CharField(_("问题标题"), max_length=300)
    description = models.TextField(_("问题描述"), blank=True)
    inspection = models.ForeignKey(
        Inspection,
        models.PROTECT,
        related_name="cases",
        verbose_name=_("所属检查"),
        db_index=False,  # covered by a composite index in Meta
    )
    source = models.CharField(
        _("问题来源"),
        max_length=24,
        choices=Source.choices,
        default=Source.CITY_FEEDBACK,
    )
    parent = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="items",
        verbose_name=_("所属问题"),
        db_index=False,  # covered by a composite index in Meta
    )
    responsible_unit = models.ForeignKey(
        Unit,
        models.PROTECT,
        related_name="cases",
        verbose_name=_("责任单位"),
        db_index=False,  # covered by a composite index in Meta
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_cases",
        verbose_name=_("责任人"),
    )
    supervising_unit = models.ForeignKey(
        Unit,
        models.PROTECT,
        related_name="supervised_cases",
        verbose_name=_("监督单位"),
    )
    # The county-level area the case is counted under in roll-ups (empty: city level).
    region = models.ForeignKey(
        Unit,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="region_cases",
        verbose_name=_("所属区县"),
        db_index=False,  # covered by a composite index in Meta
    )
    deadline = models.DateField(_("整改时限"))
    original_deadline = models.DateField(_("原定时限"))
    # Deadline extensions granted so far (a supervisor's, or an approved request): shown on the
    # case and capped by the inspection's max_extensions.
    extensions = models.PositiveSmallIntegerField(
        _("延期次数"), default=0, db_default=0, editable=False
    )
    measures = models.TextField(_("整改措施"), blank=True)
    progress = models.TextField(_("整改进展"), blank=True)
    method = models.CharField(_("整改方式"), max_length=24, choices=Method.choices, blank=True)
    is_key_problem = models.BooleanField(_("重点难点问题"), default=False)
    # Left out of public notices (通报, documents.figures), with its items: a case whose
    # details may not be published (a personnel matter, an ongoing investigation).
    not_for_publication = models.BooleanField(_("不宜公开"), default=False, db_default=False)
    amount = models.DecimalField(
        _("涉及金额（元）"),
        max_digits=16,
        decimal_places=2,
        null=True,
        blank=True,
    )
    status = models.CharField(
        _("整改状态"),
        max_length=16,
        choices=Status.choices,
        default=Status.OPEN,
    )
    # Items of a problem, maintained in the same transaction as every item write so that
    # lists and roll-ups read "3 of 8" without counting.
    items_total = models.PositiveIntegerField(_("事项数"), default=0, editable=False)
    items_done = models.PositiveIntegerField(_("已完成事项数"), default=0, editable=False)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now, editable=False)
    closed_at = models.DateTimeField(_("办结时间"), null=True, blank=True, editable=False)
    # Frozen when the case is closed: was it past its deadline at that moment?
    overdue_at_close = models.BooleanField(_("逾期办结"), default=False, editable=False)
    # Head of the case's hash-chained history (`cases.history_chain`): the hash of its last
    # event and how many there are, updated with every event in the same transaction, so
    # that a deleted last event is detected too.
    history_head = models.CharField(max_length=64, blank=True, default="", editable=False)
    history_length = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("整改问题")
        verbose_name_plural = _("整改问题")
        ordering = ["deadline", "id"]
        indexes = [
            # Completion roll-ups group by inspection / unit / region and count by status.
            models.Index(fields=["inspection", "status"], name="case_inspection_status"),
            models.Index(fields=["responsible_unit", "status"], name="case_unit_status"),
            models.Index(fields=["region", "status"], name="case_region_status"),
            # Deadline lights, overdue lists and reminder sweeps.
            models.Index(fields=["status", "deadline"], name="case_status_deadline"),
            # The list's default order, and its open part: overdue and due-soon lists, the
            # dashboard's overdue table and the reminder sweep read the open cases by deadline.
            models.Index(fields=["deadline", "id"], name="case_deadline"),
            models.Index(
                fields=["deadline", "id"],
                name="case_open_deadline",
                # Written as two comparisons: PostgreSQL prints them back the same way, so
                # generate_cases can drop and recreate the index from its definition.
                condition=~models.Q(status="completed") & ~models.Q(status="exempted"),
            ),
            # A county's open cases by deadline: its overdue and due-soon lists, counted and
            # paged without reading every open case of the province.
            models.Index(
                fields=["region", "deadline", "id"],
                name="case_open_region_deadline",
                condition=~models.Q(status="completed") & ~models.Q(status="exempted"),
            ),
            models.Index(fields=["updated_at"], name="case_updated_at"),
            models.Index(fields=["parent"], name="case_parent"),
            # The inboxes 待我验收 and 待上级协调 (cases.inbox): the few cases waiting for a
            # supervising unit, counted in every page's top bar. It carries what the count
            # checks of each row (the unit's side, the scope, the restricted ledgers), so the
            # count reads the index only, not thousands of case rows.
            models.Index(
                fields=["supervising_unit", "status"],
                name="case_waiting_supervisor",
                condition=models.Q(status__in=["submitted", "escalated"]),
                include=["responsible_unit", "owner", "inspection"],
            ),
        ]
        # The completion roll-ups (cases.tally) follow every write, in its transaction.
        triggers = [
            _after("tally_insert", pgtrigger.Insert, tally_sql.on_insert(),
                   tally_sql.TALLY_DECLARE, new="new_rows"),
            _after("tally_update", pgtrigger.Update, tally_sql.on_update(),
                   tally_sql.TALLY_DECLARE, old="old_rows", new="new_rows"),
            _after("tally_delete", pgtrigger.Delete, tally_sql.on_delete(),
                   tally_sql.TALLY_DECLARE, old="old_rows"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    # The labels every list row shows (cases.display).
    get_status_display = display_of("status")
    get_source_display = display_of("source")
    get_method_display = display_of("method")

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATES

    def is_overdue(self, today: date | None = None) -> bool:
        return self.light(today) == "red"

    def light(self, today: date | None = None) -> str:
        """Red, yellow or green (the rule: `cases.lights`), counting working days if the
        inspection says so."""
        return light_of(
            self.status,
            self.deadline,
            today or timezone.localdate(),
            working_days=self.inspection.working_days,
        )

    def days_late(self, today: date | None = None) -> int:
        """Days (working days if the inspection counts them) past the day the deadline is
        due; 0 if not overdue."""
        if self.is_done:
            return 0
        today = today or timezone.localdate()
        return days_overdue(self.deadline, today, working_days=self.inspection.working_days)


class CheckPoint(models.Model):
    """A verification point that a supervisor must confirm before closing the case (验收要点)."""

    case = models.ForeignKey(
        Case,
        models.CASCADE,
        related_name="checklist",
        verbose_name=_("整改问题"),
    )
    text = models.CharField(_("验收要点"), max_length=300)
    position = models.PositiveSmallIntegerField(default=0)
    confirmed = models.BooleanField(_("已确认"), default=False)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # What the verifier found (required on close where the inspection requires evidence).
    note = models.TextField(_("验收说明"), blank=True, db_default="")

    class Meta:
        verbose_name = _("验收要点")
        verbose_name_plural = _("验收要点")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class CaseEvent(models.Model):
    """One entry of a case's history. Append-only: PostgreSQL refuses UPDATE and DELETE."""

    class Kind(models.TextChoices):
        CREATED = "created", _("登记")
        TRANSITION = "transition", _("状态变更")
        DEADLINE = "deadline", _("调整时限")
        ASSIGNMENT = "assignment", _("调整责任")
        RECTIFICATION = "rectification", _("更新整改情况")
        CHECKLIST = "checklist", _("验收要点")
        EVIDENCE = "evidence", _("佐证材料")
        EDIT = "edit", _("修改信息")
        FOLLOW_UP = "follow_up", _("督办")
        # The unit's answer to a follow-up: changes {"follow_up": [None, <its event id>]}.
        REPLY = "reply", _("回复督办")
        # An extension request (延期申请) made or refused; an approval is a `deadline` row.
        EXTENSION = "extension", _("延期申请")

    case = models.ForeignKey(Case, models.PROTECT, related_name="events", db_index=False)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    from_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    # Set on `created` and `transition` rows: a case's status as of any past moment is the
    # to_status of its last such row before it.
    to_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    # Set on `created` and `deadline` rows: the deadline in force from then on.
    deadline = models.DateField(null=True, blank=True)
    # On transition rows: the case was past its deadline at that moment (frozen on close).
    was_overdue = models.BooleanField(default=False)
    # {"field": [old, new], ...} for every value the event changed.
    changes = models.JSONField(default=dict, blank=True)
    note = models.TextField(_("说明"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人"),
    )
    actor_unit = models.ForeignKey(
        Unit,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人单位"),
    )
    created_at = models.DateTimeField(_("时间"), default=timezone.now)
    # Tamper evidence (`cases.history_chain`): the event's position in its case's history
    # (1, 2, …), the hash of the event before it ("" for the first) and the SHA-256 of this
    # event's content together with both.
    seq = models.PositiveIntegerField(default=0, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        verbose_name = _("整改记录")
        verbose_name_plural = _("整改记录")
        ordering = ["created_at", "id"]
        indexes = [
            # Timelines, and "the last status/deadline row before D" for as-of figures.
            models.Index(fields=["case", "created_at"], name="event_case_time"),
            models.Index(fields=["created_at"], name="event_time"),
        ]
        # Refused: UPDATE, DELETE. Back-dated history drops the completion snapshots it
        # changes (cases.tally).
        triggers = [
            record_guards.HISTORY_APPEND_ONLY,
            _after("snapshot_history", pgtrigger.Insert, tally_sql.on_history_added(),
                   tally_sql.HISTORY_DECLARE, new="new_rows"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M}"


class Evidence(models.Model):
    """A supporting document (佐证材料) attached to a case and, usually, a history entry."""

    case = models.ForeignKey(Case, models.PROTECT, related_name="evidence")
    event = models.ForeignKey(
        CaseEvent,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="evidence",
    )
    file = StoredFileField(storage=evidence_storage, upload_to=evidence_path, max_length=200)
    original_name = models.CharField(_("文件名"), max_length=255)
    content_type = models.CharField(_("类型"), max_length=100)
    size = models.PositiveBigIntegerField(_("大小"))
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("上传时间"), default=timezone.now)

    class Meta:
        verbose_name = _("佐证材料")
        verbose_name_plural = _("佐证材料")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.original_name
