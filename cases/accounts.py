"""Accounts: API tokens, disabling users, and the answers of the login lockout (django-axes).

Tokens are issued and revoked here, so that the token endpoint, the admin and any other caller
share one rule: a disabled user keeps no token (were the account re-enabled, an old token must
not come back to life with it).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from .api.errors import error_body
from .errors import DomainError
from .models import User

logger = logging.getLogger(__name__)


class LockedOut(DomainError):
    """Too many failed logins for this username from this address (django-axes)."""

    code = "locked_out"
    status_code = 429


# --- Tokens and users -------------------------------------------------------------------


def token_issue(user: User) -> Token:
    """The user's API token, created on first use (one token per user)."""
    token, _created = Token.objects.get_or_create(user=user)
    return token


def token_revoke(user: User) -> int:
    """Delete the user's tokens; returns how many there were."""
    deleted, _by_model = Token.objects.filter(user_id=user.pk).delete()
    return deleted


@transaction.atomic
def user_disable(user: User, actor: Any = None) -> User:
    """Disable an account: from its next request on, its sessions and tokens are refused.

    Sessions need no sweep: the session authentication backend refuses inactive users and
    tracker.session_policy then flushes such a session. Tokens are deleted here.
    """
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    revoked = token_revoke(user)
    logger.info(
        "user %s disabled by %s (%d API token(s) revoked)",
        user.pk,
        getattr(actor, "pk", None),
        revoked,
    )
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
