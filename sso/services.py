"""Sign-on's writes: placing an outside identity's account by the claim rules (the OIDC and
LDAP backends both call `sign_on`), and the superuser's rule edits (the admin).

An outside identity is linked to the account it created and reaches no other: a local account
(the demo's, a break-glass administrator's) is never taken over by a provider's user of the
same name. Superusers and staff are never made here; a user keeps the unit and role of the
first active rule matching their claims at each sign-on, and without one is refused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import accounts, organisation
from cases.errors import Forbidden, InvalidInput
from cases.models import User

from .mapping import first_matching
from .models import ClaimRule, ExternalIdentity

logger = logging.getLogger(__name__)


class SignOnRefused(Forbidden):
    """An identity the provider or directory vouched for that may not sign in here."""

    code = "sign_on_refused"


class AccountTaken(SignOnRefused):
    """A new identity whose username is a local account's: the local account keeps it (the
    LDAP backend then leaves the password to the local one: a break-glass login)."""


def _refuse(message: str, *, source: str, subject: str, why: str) -> SignOnRefused:
    logger.warning("sign-on refused (%s, subject %r): %s", source, subject, why)
    return SignOnRefused(message)


def _new_username(username: str, *, source: str, subject: str) -> str:
    username = (username or "").strip()[:150]
    try:
        User.username_validator(username)
    except ValidationError:
        raise _refuse(
            _(
                "身份提供方提供的用户名“%(username)s”不符合本系统的用户名规则，"
                "无法登录。请联系系统管理员。"
            )
            % {"username": username},
            source=source,
            subject=subject,
            why="username not valid here",
        ) from None
    if User.objects.filter(username__iexact=username).exists():
        logger.warning(
            "sign-on refused (%s, subject %r): %r is a local account", source, subject, username
        )
        raise AccountTaken(
            _(
                "用户名“%(username)s”已被本系统的其他账户使用，"
                "统一身份认证不会接管已有账户。请联系系统管理员。"
            )
            % {"username": username}
        )
    return username


@transaction.atomic
def sign_on(
    *,
    source: str,
    issuer: str,
    subject: str,
    username: str,
    claims: Mapping[str, Any],
    full_name: str = "",
    email: str = "",
    request: Any = None,
) -> User:
    """The account of the identity (`source`, `issuer`, `subject`), created on its first
    sign-on, placed by the first matching active rule; SignOnRefused (nothing stored) when no
    rule matches, the account is disabled, or a new account's username is taken."""
    subject = str(subject or "").strip()
    if not subject or not issuer:
        raise _refuse(
            _("身份提供方没有提供用户标识，无法登录。"),
            source=source,
            subject=subject,
            why="no subject",
        )
    # Locked: two sign-ons of one person at the same moment create one account.
    identity = (
        ExternalIdentity.objects.select_for_update()
        .select_related("user")
        .filter(source=source, issuer=issuer, subject=subject)
        .first()
    )
    if identity is None:
        # Checked first: a local account's name never learns whether a rule would match.
        username = _new_username(username, source=source, subject=subject)
    rules = ClaimRule.objects.filter(active=True).select_related("unit").order_by("priority", "id")
    rule = first_matching(rules, claims, source)
    if rule is None:
        raise _refuse(
            _("您的身份信息未匹配任何单位和角色规则，无法登录本系统。请联系系统管理员。"),
            source=source,
            subject=subject,
            why="no rule matches",
        )
    full_name = str(full_name or "").strip()[:100]
    email = str(email or "").strip()[:254]
    if identity is None:
        try:
            with transaction.atomic():
                user = organisation.user_create(
                    username=username,
                    password=None,  # signs in through the provider only
                    unit=rule.unit,
                    role=rule.role,
                    full_name=full_name,
                    email=email,
                    request=request,
                )
                identity = ExternalIdentity.objects.create(
                    user=user, source=source, issuer=issuer, subject=subject, rule=rule
                )
        except IntegrityError:  # the same identity or username, created at the same moment
            raise _refuse(
                _("登录冲突，请重试。"), source=source, subject=subject, why="created concurrently"
            ) from None
        return user
    user = identity.user
    if not user.is_active:
        raise _refuse(
            _("该账户已停用，无法登录。"), source=source, subject=subject, why="account disabled"
        )
    changes: dict[str, Any] = {}
    if (user.unit_id, user.role) != (rule.unit_id, rule.role):
        changes.update(unit=rule.unit, role=rule.role)
    if full_name and full_name != user.full_name:
        changes["full_name"] = full_name
    if changes:
        # The accounts service: a new unit or role is a role change in the audit log.
        user = accounts.user_update(actor=None, user_id=user.pk, request=request, **changes)
    identity.rule = rule
    identity.last_login_at = timezone.now()
    identity.save(update_fields=["rule", "last_login_at"])
    return user


# --- Rules (the admin) ---------------------------------------------------------------------------


def check_rule(rule: ClaimRule) -> None:
    """Refuse a rule that could not work as written: an empty claim or value, a pattern that
    does not compile, a role a rule may not give."""
    errors: dict[str, list[str]] = {}
    if not rule.claim.strip():
        errors["claim"] = [_("请填写声明或属性名称。")]
    if not rule.value:
        errors["value"] = [_("请填写匹配值。")]
    elif rule.match == ClaimRule.Match.REGEX:
        try:
            re.compile(rule.value)
        except re.error as error:
            errors["value"] = [_("正则表达式有误：%(error)s") % {"error": error}]
    if rule.role not in dict(ClaimRule._meta.get_field("role").choices or []):
        errors["role"] = [_("映射规则只能授予整改联络员、监督检查人员或单位管理员角色。")]
    if errors:
        raise InvalidInput(" ".join(m for ms in errors.values() for m in ms), fields=errors)


@transaction.atomic
def claim_rule_save(*, actor: Any, rule: ClaimRule) -> ClaimRule:
    """Save a rule a superuser wrote; it applies from each user's next sign-on."""
    if not getattr(actor, "is_superuser", False):
        raise Forbidden(_("只有系统管理员可以设置单位角色映射规则。"))
    rule.claim = rule.claim.strip()
    check_rule(rule)
    rule.save()
    return rule
