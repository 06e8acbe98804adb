"""The audit log: who looked at what, and every change to what is not a case.

Case events, checklist points and evidence are in each case's own sealed chain
(cases_caseevent). Everything else a person does that a commission must be able to account
for is here: views of restricted cases, evidence downloads, ledger exports and imports,
refused accesses, and the changes of units, users and their roles, inspections and group
bots. One row per act, append-only at the database, sealed as one chain (`audit.integrity`).

No rules live here: rows are written by `audit.services.audit_record` only.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# The database keeps the log append-only (on PostgreSQL; the SQLite demo has the same guard,
# installed by migration 0002). UPDATE is refused, whoever asks. DELETE is refused too, except
# of entries up to the anchor of a recorded purge: `purge_audit` first appends an `audit_purge`
# entry naming the last entry it deletes (`changes.anchor_seq`), then deletes up to it. The
# guard reads that from the table itself, so it depends on no setting and no session state. A
# forged purge entry does not carry a valid seal, and `verify_history` names it; the runtime
# role has no UPDATE or DELETE privilege on the table in the first place (which also stops a
# session that asks django-pgtrigger to skip the trigger). TRUNCATE is left to the privilege.
APPEND_ONLY = pgtrigger.Trigger(
    name="append_only",
    when=pgtrigger.Before,
    operation=pgtrigger.Update | pgtrigger.Delete,
    func="""
    IF TG_OP = 'DELETE' AND EXISTS (
        SELECT 1 FROM audit_auditentry AS purge
        WHERE purge.action = 'audit_purge'
          AND purge.seq > OLD.seq
          AND (purge.changes ->> 'anchor_seq')::bigint >= OLD.seq
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit log is append-only: % on audit_auditentry refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    """,
)


class AuditEntry(models.Model):
    class Action(models.TextChoices):
        VIEW_RESTRICTED_CASE = "view_restricted_case", _("查看限定问题")
        DOWNLOAD_EVIDENCE = "download_evidence", _("下载佐证材料")
        EXPORT_LEDGER = "export_ledger", _("导出台账")
        IMPORT_LEDGER = "import_ledger", _("导入台账")
        ACCESS_REFUSED = "access_refused", _("访问被拒绝")
        UNIT_CREATE = "unit_create", _("新建单位")
        UNIT_UPDATE = "unit_update", _("修改单位")
        USER_CREATE = "user_create", _("新建用户")
        USER_UPDATE = "user_update", _("修改用户信息")
        ROLE_CHANGE = "role_change", _("调整角色或权限")
        USER_DISABLE = "user_disable", _("停用用户")
        USER_PASSWORD_RESET = "user_password_reset", _("重置用户密码")
        INSPECTION_CREATE = "inspection_create", _("新建检查/台账")
        INSPECTION_UPDATE = "inspection_update", _("修改检查/台账")
        WEBHOOK_CREATE = "webhook_create", _("新建群机器人")
        WEBHOOK_UPDATE = "webhook_update", _("修改群机器人")
        WEBHOOK_DELETE = "webhook_delete", _("删除群机器人")
        GRANT_CREATE = "grant_create", _("授权查看限定台账")
        GRANT_REVOKE = "grant_revoke", _("撤销限定台账授权")
        AUDIT_PURGE = "audit_purge", _("清理过期审计记录")
        LOOKBACK_START = "lookback_start", _("发起回头看")
        RECHECK_DECIDE = "recheck_decide", _("认定复核结论")
        ACCOUNTABILITY_CREATE = "accountability_create", _("登记问责")

    # Position in the chain (1, 2, …), unique: two writers that both read the same head fail
    # on this constraint rather than fork the chain (they also queue on a lock first).
    seq = models.PositiveBigIntegerField(_("序号"), unique=True, editable=False)
    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人"),
    )
    # Snapshots at the moment of the act: a later move or role change does not rewrite who
    # the person was when they did it.
    actor_unit = models.ForeignKey(
        "cases.Unit",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人单位"),
    )
    actor_role = models.CharField(_("操作人角色"), max_length=16, blank=True)
    action = models.CharField(_("操作"), max_length=32, choices=Action.choices)
    # What was acted on: "cases.unit" and its id, and how it read then.
    target_type = models.CharField(_("对象类型"), max_length=64, blank=True)
    target_id = models.CharField(_("对象编号"), max_length=64, blank=True)
    target_label = models.CharField(_("对象"), max_length=300, blank=True)
    # The unit the target belongs to (a unit itself, a user's unit, an inspection's
    # supervising unit, a bot's unit): a commission reads the changes made in its jurisdiction
    # even when an operator without a unit made them.
    target_unit = models.ForeignKey(
        "cases.Unit",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("对象所属单位"),
    )
    case = models.ForeignKey(
        "cases.Case",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("整改问题"),
    )
    # {"field": [old, new], ...}; never a password, a token or a bot's secret.
    changes = models.JSONField(_("变更内容"), default=dict, blank=True)
    ip_address = models.CharField(_("IP 地址"), max_length=45, blank=True)
    path = models.CharField(_("请求路径"), max_length=500, blank=True)
    note = models.TextField(_("说明"), blank=True)
    # HMAC of the previous entry's seal and this entry's content (`audit.integrity`).
    seal = models.CharField(max_length=64, editable=False)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["-seq"]
        indexes = [
            # The audit page's filters, newest first: by person, by case.
            models.Index(fields=["actor", "seq"], name="audit_actor_seq"),
            models.Index(fields=["case", "seq"], name="audit_case_seq"),
            # A commission's scope: entries of its units' people and about its units.
            models.Index(fields=["actor_unit"], name="audit_actor_unit"),
            models.Index(fields=["target_unit"], name="audit_target_unit"),
            # The delete guard looks the purge entries up (APPEND_ONLY).
            models.Index(fields=["action"], name="audit_action"),
        ]
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.at:%Y-%m-%d %H:%M}"
