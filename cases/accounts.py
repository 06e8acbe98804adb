"""Accounts: disabling users, the client's address, the answers of the login lockout
(django-axes) and the password reset's throttle. API tokens live in cases.tokens.

A disabled user keeps no token: they are revoked here (were the account re-enabled, an old
token must not come back to life with it), and cases.tokens refuses an inactive user's token
whatever path disabled it.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from audit.models import AuditEntry
from audit.services import audit_record, changes_between

from . import selectors, tokens
from .api.errors import error_body
from .errors import DomainError, InvalidInput
from .models import User
from .workflow import Role

logger = logging.getLogger(__name__)


class UnitBackend(ModelBackend):
    """Django's password backend, reading a signed-in user with their unit and its parent in
    the same query: every page asks for both (`selectors.scope_root`: a commission oversees its
    parent's area), which were two more queries a request. The user is read for one request,
    so it keeps its scope's unit ids for that request (`selectors.remember_scope_for_request`)."""

    def get_user(self, user_id: Any) -> Any:
        try:
            user = User._default_manager.select_related("unit__parent").get(pk=user_id)
        except User.DoesNotExist:
            return None
        if not self.user_can_authenticate(user):
            return None
        return selectors.remember_scope_for_request(user)


class LockedOut(DomainError):
    """Too many failed logins for this username from this address (django-axes)."""

    code = "locked_out"
    status_code = 429


# --- Users -------------------------------------------------------------------------------


@transaction.atomic
def user_disable(user: User, actor: Any = None, *, request: Any = None) -> User:
    """Disable an account: from its next request on, its sessions and tokens are refused.

    Sessions need no sweep: the session authentication backend refuses inactive users and
    tracker.session_policy then flushes such a session. Tokens are revoked here.
    """
    was_active = user.is_active
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    revoked = tokens.token_revoke_all(user)
    if was_active or revoked:
        audit_record(
            actor=actor,
            action=AuditEntry.Action.USER_DISABLE,
            target=user,
            changes={"is_active": [was_active, False], "tokens_revoked": [revoked, 0]},
            request=request,
        )
    logger.info(
        "user %s disabled by %s (%d API token(s) revoked)",
        user.pk,
        getattr(actor, "pk", None),
        revoked,
    )
    return user


# What a user's record holds that the audit log shows (never the password).
USER_EDITABLE = (
    "username",
    "first_name",
    "last_name",
    "full_name",
    "email",
    "unit",
    "role",
    "is_active",
    "is_staff",
    "is_superuser",
)
# A change of any of these changes what the user may see or do.
USER_PRIVILEGES = frozenset({"unit", "role", "is_active", "is_staff", "is_superuser"})


def user_values(user: User) -> dict[str, Any]:
    return {name: getattr(user, "unit_id" if name == "unit" else name) for name in USER_EDITABLE}


def check_role(role: str, unit: Any, is_superuser: bool) -> None:
    if role and role not in Role.values:
        raise InvalidInput(_("未知的角色：%(role)s") % {"role": role})
    if role and unit is None and not is_superuser:
        raise InvalidInput(_("有角色的用户必须属于一个单位。"))


@transaction.atomic
def user_update(*, actor: Any, user_id: int, request: Any = None, **values: Any) -> User:
    """Change a user's record (USER_EDITABLE): the one door for the admin and any other
    editor. A change of unit, role, admin rights or of being enabled is recorded as a role
    change; disabling goes through `user_disable`, which also revokes the user's tokens."""
    unknown = set(values) - set(USER_EDITABLE)
    if unknown:
        raise InvalidInput(_("不能修改：%(fields)s") % {"fields": ", ".join(sorted(unknown))})
    user = User.objects.select_for_update().get(pk=user_id)
    before = user_values(user)
    disable = values.get("is_active") is False and user.is_active
    if disable:
        values.pop("is_active")
    for name, value in values.items():
        setattr(user, name, value)
    if not str(user.username).strip():
        raise InvalidInput(_("请填写用户名。"), fields={"username": [_("请填写用户名。")]})
    check_role(user.role, user.unit_id, user.is_superuser)
    user.save()
    changes = changes_between(before, user_values(user))
    if changes:
        privileged = USER_PRIVILEGES & changes.keys()
        audit_record(
            actor=actor,
            action=AuditEntry.Action.ROLE_CHANGE if privileged else AuditEntry.Action.USER_UPDATE,
            target=user,
            changes=changes,
            request=request,
        )
    if disable:
        user_disable(user, actor=actor, request=request)
    return user


# --- Login lockout (django-axes) ------------------------------------------------------------


def lockout_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_message() -> str:
    minutes = max(1, lockout_seconds() // 60)
    return _("登录失败次数过多，账户已暂时锁定。请 %(minutes)s 分钟后再试，或联系管理员解锁。") % {
        "minutes": minutes
    }


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the answer once a username is locked out from an address.

    The API answers in its error shape; a login page is shown again with the lockout message
    in place of the form's error. Both with 429 Too Many Requests and Retry-After. The answer
    is the same whether the username exists or not (axes counts submitted usernames).
    """
    headers = {"Retry-After": str(lockout_seconds())}
    message = lockout_message()
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body(LockedOut.status_code, LockedOut.code, message),
            status=LockedOut.status_code,
            headers=headers,
        )
    context = getattr(original_response, "context_data", None) or {}
    form = context.get("form")
    if isinstance(original_response, TemplateResponse) and form is not None:
        # The login view's own page (the site's or the admin's), its form error replaced.
        form.errors[NON_FIELD_ERRORS] = form.error_class([message], error_class="nonfield")
        response = render(
            request,
            original_response.template_name,  # type: ignore[arg-type]
            context,
            status=LockedOut.status_code,
        )
    else:
        response = HttpResponse(
            message, status=LockedOut.status_code, content_type="text/plain; charset=utf-8"
        )
    response["Retry-After"] = headers["Retry-After"]
    return response


def client_address(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the client's address for the lockout.

    Behind TRUSTED_PROXY_COUNT reverse proxies that each append to X-Forwarded-For, the
    client is that many entries from the right (entries further left are the client's own
    claims, never trusted); with no proxy, REMOTE_ADDR.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


# --- Password reset throttle --------------------------------------------------------------------


def _hits(key: str, window: int) -> int:
    """Count one more request in a fixed window; atomic in Redis (INCR)."""
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, timeout=window)
        return 1


def password_reset_refusal(request: HttpRequest, email: str) -> str | None:
    """Count a password reset request; the message refusing it when the client's address or
    the submitted email asked too often within PASSWORD_RESET_WINDOW_MINUTES, else None.

    Every request counts, whether the email belongs to anybody or not (the answer must not
    tell). Per address: one client cannot mail many people; per email: many addresses cannot
    flood one person's mailbox. The counts live in the cache (like the API's throttles): a
    cache outage lets requests through rather than stop every password reset.
    """
    window = settings.PASSWORD_RESET_WINDOW_MINUTES * 60
    normalised = email.strip().lower()
    counted = [(f"reset:addr:{client_address(request)}", settings.PASSWORD_RESET_PER_ADDRESS)]
    if normalised:
        digest = hashlib.sha256(normalised.encode()).hexdigest()
        counted.append((f"reset:email:{digest}", settings.PASSWORD_RESET_PER_EMAIL))
    try:
        over = [_hits(key, window) > limit for key, limit in counted]
    except Exception as error:  # the cache (Redis) is down or hung
        logger.warning("password reset throttle unavailable, request allowed: %s", error)
        return None
    if not any(over):
        return None
    return _("密码重置请求过于频繁，请 %(minutes)s 分钟后再试。") % {
        "minutes": settings.PASSWORD_RESET_WINDOW_MINUTES
    }
