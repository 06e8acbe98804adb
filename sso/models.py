"""Sign-on from outside: the rules that place an identity provider's or a directory's users in
a unit with a role (set by superusers in the admin), and the link from an outside identity to
the account it signs in as.

No business rules here: sso.services writes, sso.mapping decides which rule applies.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.workflow import Role


class Source(models.TextChoices):
    OIDC = "oidc", _("统一身份认证（OIDC）")
    LDAP = "ldap", _("目录服务（LDAP）")


# What a rule may hand out: people's roles. An API reader is a program's credential and a
# superuser or staff account an operator's: a system administrator makes those, never a claim.
RULE_ROLES = [
    (Role.INSPECTOR.value, Role.INSPECTOR.label),
    (Role.SUPERVISOR.value, Role.SUPERVISOR.label),
    (Role.UNIT_ADMIN.value, Role.UNIT_ADMIN.label),
]


class ClaimRule(models.Model):
    """If the claim (OIDC) or attribute (LDAP; "groups" for the group DNs) `claim` has the
    value `value`, the user belongs to `unit` with `role`. Active rules are tried in ascending
    `priority` (then id); the first that matches places the user; none: the login is refused."""

    class SourceFilter(models.TextChoices):
        ANY = "any", _("任意来源")
        OIDC = Source.OIDC.value, Source.OIDC.label
        LDAP = Source.LDAP.value, Source.LDAP.label

    class Match(models.TextChoices):
        EXACT = "exact", _("完全相等")
        REGEX = "regex", _("正则表达式（整体匹配）")

    description = models.CharField(_("说明"), max_length=200, blank=True)
    source = models.CharField(
        _("来源"), max_length=8, choices=SourceFilter.choices, default=SourceFilter.ANY
    )
    claim = models.CharField(
        _("声明或属性"),
        max_length=100,
        help_text=_(
            "OIDC 声明名（可用点号取下级，如 org.code）或 LDAP 属性名；LDAP 的所属组写 groups。"
            "只用身份提供方认定的声明（组织、岗位、组），不要用用户自己可改的（姓名、邮箱）。"
        ),
    )
    match = models.CharField(
        _("匹配方式"), max_length=8, choices=Match.choices, default=Match.EXACT
    )
    value = models.CharField(_("匹配值"), max_length=300)
    unit = models.ForeignKey("cases.Unit", models.PROTECT, related_name="+", verbose_name=_("单位"))
    role = models.CharField(_("角色"), max_length=16, choices=RULE_ROLES)
    priority = models.PositiveIntegerField(
        _("优先级"), default=100, help_text=_("数字小的先匹配；第一条匹配的规则决定单位和角色。")
    )
    active = models.BooleanField(_("启用"), default=True)
    updated_at = models.DateTimeField(_("修改时间"), auto_now=True)

    class Meta:
        verbose_name = _("单位角色映射规则")
        verbose_name_plural = _("单位角色映射规则")
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return f"{self.claim} = {self.value} → {self.unit_id}/{self.role}"


class ExternalIdentity(models.Model):
    """The account an outside identity signs in as, found by (source, issuer, subject) and
    never by username or email: an identity provider's "admin" never becomes the local one."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="external_identities",
        verbose_name=_("用户"),
    )
    source = models.CharField(_("来源"), max_length=8, choices=Source.choices)
    # The OIDC issuer or the LDAP server's address.
    issuer = models.CharField(_("签发方"), max_length=300)
    # OIDC `sub`, LDAP login name: stable for the person at that issuer.
    subject = models.CharField(_("用户标识"), max_length=255)
    rule = models.ForeignKey(
        ClaimRule,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("最近适用的规则"),
    )
    created_at = models.DateTimeField(_("首次登录"), default=timezone.now)
    last_login_at = models.DateTimeField(_("最近登录"), default=timezone.now)

    class Meta:
        verbose_name = _("外部身份")
        verbose_name_plural = _("外部身份")
        constraints = [
            # Unique, hence indexed: the lookup of every sign-on.
            models.UniqueConstraint(
                fields=["source", "issuer", "subject"], name="sso_identity_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.subject}"
