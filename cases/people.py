"""Unit administrators' writes: the people and group bots of their unit's subtree
(cases.people_selectors scopes them; superusers manage every unit the same way).

Each operation locks what it changes, checks the scope again, and goes through the one
service that already owns the record (cases.organisation.user_create, cases.accounts
.user_update / user_disable, reminders.webhooks), so the audit log records it as every other
door does.

What a unit administrator may hand out (`grantable_roles`): 整改联络员 (inspector) and 单位管理员
(unit_admin) in any unit of their subtree; 监督检查人员 (supervisor) only if their own unit is a
commission (纪检监察机关): a commission staffs its own supervisors, while any other unit's
supervisors are appointed by a system administrator. Never a superuser, a staff account, an
API reader (a program's credential, issued by a system administrator), and nothing outside
the subtree. The result of any edit must be a placement they could have created.

Passwords: a new account has no usable password, and a reset makes the password unusable at
once (ending the user's sessions, and their API tokens, which are bound to the password:
cases.tokens). Either way the administrator is shown, once, a set-password link (Django's
password reset link, valid PASSWORD_RESET_TIMEOUT and for one use) to hand to the person, who
chooses a password under the site's password rules.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from audit.models import AuditEntry
from audit.services import REDACTED, audit_record
from reminders import webhooks
from reminders.models import UnitWebhook

from . import accounts, organisation
from .errors import Forbidden, InvalidInput, NotFound
from .models import Unit, User
from .people_selectors import (
    manageable_bots,
    manageable_people,
    manageable_units,
    manages_people,
)
from .workflow import Role


def grantable_roles(actor: Any) -> list[Role]:
    """The roles `actor` may give (see the module's docstring), in the form's order."""
    if not manages_people(actor):
        return []
    if actor.is_superuser:
        return [Role.INSPECTOR, Role.SUPERVISOR, Role.UNIT_ADMIN, Role.API_READER]
    roles = [Role.INSPECTOR]
    if actor.unit.is_supervising_body:
        roles.append(Role.SUPERVISOR)
    roles.append(Role.UNIT_ADMIN)
    return roles


def _require_manager(actor: Any) -> None:
    if not manages_people(actor):
        raise Forbidden(_("只有单位管理员可以管理人员和群机器人。"))


def _managed_unit(actor: Any, unit_id: Any) -> Unit:
    unit = manageable_units(actor).filter(pk=unit_id).first() if unit_id else None
    if unit is None:
        message = _("请选择您管理范围内的单位。")
        raise InvalidInput(message, fields={"unit": [message]})
    return unit


def _check_role(actor: Any, role: str) -> None:
    if role not in grantable_roles(actor):
        label = Role(role).label if role in Role.values else role
        message = _("您无权授予“%(role)s”角色。") % {"role": label}
        raise Forbidden(message, fields={"role": [message]})


def _locked_person(actor: Any, person_id: Any) -> User:
    """The manageable person, locked until the end of the transaction."""
    person = (
        manageable_people(actor).select_for_update(of=("self",)).filter(pk=person_id).first()
        if str(person_id).isdigit()
        else None
    )
    if person is None:
        raise NotFound(_("未找到该人员，或不在您的管理范围内。"))
    return person


def _clean_username(username: str) -> str:
    username = (username or "").strip()
    try:
        if not username:
            raise ValidationError(_("请填写用户名。"))
        User.username_validator(username)
    except ValidationError as error:
        raise InvalidInput(" ".join(error.messages), fields={"username": error.messages}) from None
    if User.objects.filter(username__iexact=username).exists():
        message = _("用户名“%(username)s”已被使用。") % {"username": username}
        raise InvalidInput(message, fields={"username": [message]})
    return username


@transaction.atomic
def person_create(
    *,
    actor: Any,
    username: str,
    full_name: str,
    email: str,
    unit_id: Any,
    role: str,
    request: Any = None,
) -> User:
    """A new account of the actor's subtree, without a usable password (`set_password_link`)."""
    _require_manager(actor)
    username = _clean_username(username)
    unit = _managed_unit(actor, unit_id)
    _check_role(actor, role)
    try:
        with transaction.atomic():
            return organisation.user_create(
                username=username,
                password=None,
                unit=unit,
                role=role,
                full_name=(full_name or "").strip(),
                email=(email or "").strip(),
                actor=actor,
                request=request,
            )
    except IntegrityError:  # the same username, created at the same moment
        message = _("用户名“%(username)s”已被使用。") % {"username": username}
        raise InvalidInput(message, fields={"username": [message]}) from None


@transaction.atomic
def person_update(
    *,
    actor: Any,
    person_id: Any,
    full_name: str,
    email: str,
    unit_id: Any,
    role: str,
    request: Any = None,
) -> User:
    """Name, email, and the placement: moving to another unit of the subtree or changing the
    role, both only to what the actor could have created, and never for themselves."""
    _require_manager(actor)
    person = _locked_person(actor, person_id)
    unit = _managed_unit(actor, unit_id)
    values: dict[str, Any] = {
        "full_name": (full_name or "").strip(),
        "email": (email or "").strip(),
    }
    if unit.pk != person.unit_id or role != person.role:
        if person.pk == actor.pk:
            raise Forbidden(_("不能调整自己的单位或角色。"))
        _check_role(actor, role)
        values.update(unit=unit, role=role)
    return accounts.user_update(actor=actor, user_id=person.pk, request=request, **values)


@transaction.atomic
def person_set_active(*, actor: Any, person_id: Any, active: bool, request: Any = None) -> User:
    """Deactivate (sessions and API tokens end: cases.accounts.user_disable) or enable again
    (old tokens stay dead). Never one's own account."""
    _require_manager(actor)
    person = _locked_person(actor, person_id)
    if person.pk == actor.pk:
        raise Forbidden(_("不能停用或启用自己的账户。"))
    if person.is_active == active:
        return person
    if active:
        return accounts.user_update(actor=actor, user_id=person.pk, request=request, is_active=True)
    return accounts.user_disable(person, actor=actor, request=request)


@transaction.atomic
def person_reset_password(*, actor: Any, person_id: Any, request: Any = None) -> User:
    """Make the person's password unusable now: their sessions and API tokens end, and only
    the set-password link (`set_password_link`) the administrator is shown lets them in."""
    _require_manager(actor)
    person = _locked_person(actor, person_id)
    if person.pk == actor.pk:
        raise Forbidden(_("请通过“修改密码”修改自己的密码。"))
    if not person.is_active:
        raise InvalidInput(_("该账户已停用，请先启用再重置密码。"))
    # A signed-on account (sso.ExternalIdentity) has no local password: a set-password link
    # would let it in whatever the sign-on rules say.
    if person.external_identities.exists():  # type: ignore[attr-defined]
        raise InvalidInput(_("该账户通过统一身份认证登录，没有本地密码，无需重置。"))
    person.set_unusable_password()
    person.save(update_fields=["password"])
    audit_record(
        actor=actor,
        action=AuditEntry.Action.USER_PASSWORD_RESET,
        target=person,
        changes={"password": [REDACTED, REDACTED + " (reset)"]},
        request=request,
    )
    return person


def set_password_link(person: User) -> str:
    """The path of a one-time link to choose a password (Django's reset confirm view): it
    stops working once a password is set, on a later reset, and after
    PASSWORD_RESET_TIMEOUT. Shown once to the administrator; stored nowhere."""
    uid = urlsafe_base64_encode(force_bytes(person.pk))
    token = default_token_generator.make_token(person)
    return reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


# --- Group bots ------------------------------------------------------------------------------


def _locked_bot(actor: Any, bot_id: Any) -> UnitWebhook:
    bot = manageable_bots(actor).select_for_update(of=("self",)).filter(pk=bot_id).first()
    if bot is None:
        raise NotFound(_("未找到该群机器人，或不在您的管理范围内。"))
    return bot


@transaction.atomic
def bot_save(*, actor: Any, bot: UnitWebhook, request: Any = None) -> UnitWebhook:
    """Add a bot to a unit of the subtree, or change one of the subtree's bots (its unit
    stays). The egress policy and the audit record are reminders.webhooks'."""
    _require_manager(actor)
    if bot.pk:
        bot.unit_id = _locked_bot(actor, bot.pk).unit_id
    else:
        unit = _managed_unit(actor, bot.unit_id)
        if UnitWebhook.objects.filter(unit=unit).exists():
            message = _("“%(unit)s”已有群机器人，请编辑它。") % {"unit": unit.name}
            raise InvalidInput(message, fields={"unit": [message]})
    try:
        with transaction.atomic():
            return webhooks.webhook_save(actor=actor, webhook=bot, request=request)
    except ValidationError as error:
        fields = {k: [str(m) for m in v] for k, v in error.message_dict.items()}
        raise InvalidInput(" ".join(error.messages), fields=fields) from None
    except IntegrityError:  # another bot for the unit, added at the same moment
        raise InvalidInput(_("该单位已有群机器人，请编辑它。")) from None


@transaction.atomic
def bot_delete(*, actor: Any, bot_id: Any, request: Any = None) -> None:
    _require_manager(actor)
    bot = _locked_bot(actor, bot_id)
    webhooks.webhook_delete(actor=actor, webhook=bot, request=request)
