"""API tokens: issued, listed, judged and revoked here, for the token endpoint, the tokens page,
the API's authentication and the disabling of users alike.

A token's key is 40 hexadecimal characters (160 random bits), shown once when it is issued;
the database keeps its SHA-256 (a fast hash is enough for a random key: there is nothing to
guess a dictionary of) and its first 8 characters for display. A user holds at most
API_TOKEN_MAX_PER_USER usable tokens, one per name (e.g. one per client program), each valid
for API_TOKEN_TTL_DAYS. Issuing under a name already in use is refused, or, for the token
endpoint (`replace=True`), revokes the old token of that name: a client that logs in again
rotates its token instead of piling new ones up.

Nothing is written when a token is used: no "last used" time (a read must not write, and a
stolen token's use would be recorded where its thief can read it anyway; the request log has
the user of each request).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .errors import Conflict, InvalidInput, NotFound
from .models import ApiToken, User

KEY_PATTERN = re.compile(r"[0-9a-f]{40}")
PREFIX_LENGTH = 8
NAME_MAX_LENGTH = 50
# The name the token endpoint issues under when the client gives none.
DEFAULT_API_NAME = "api"
# Domain separation from Django's own session hash over the same password hash.
_FINGERPRINT_SALT = "cases.tokens.password_fingerprint"


class Status:
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a status, not a password)
    USER_DISABLED = "user_disabled"

    LABELS = {
        ACTIVE: gettext_lazy("有效"),
        EXPIRED: gettext_lazy("已过期"),
        REVOKED: gettext_lazy("已撤销"),
        PASSWORD_CHANGED: gettext_lazy("已失效（密码已更改）"),
        USER_DISABLED: gettext_lazy("已失效（账户已停用）"),
    }


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str  # the secret: shown once, stored nowhere


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def password_fingerprint(user: User, secret: str | None = None) -> str:
    """A keyed digest of the user's password hash: it changes whenever the password is set,
    by whatever path, and cannot be recomputed without SECRET_KEY."""
    digest = salted_hmac(_FINGERPRINT_SALT, user.password, secret=secret, algorithm="sha256")
    return digest.hexdigest()


def _fingerprint_matches(token: ApiToken, user: User) -> bool:
    # SECRET_KEY_FALLBACKS: rotating the secret key does not end the tokens at once (as for
    # Django's sessions); they end when the old key leaves the fallbacks.
    secrets_in_use = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(
        constant_time_compare(token.password_fingerprint, password_fingerprint(user, secret))
        for secret in secrets_in_use
    )


def token_status(token: ApiToken, *, now: datetime | None = None) -> str:
    """The one rule for whether a token is usable (Status.ACTIVE) and, if not, why."""
    now = now or timezone.now()
    if token.revoked_at is not None:
        return Status.REVOKED
    if not token.user.is_active:
        return Status.USER_DISABLED
    if not _fingerprint_matches(token, token.user):
        return Status.PASSWORD_CHANGED
    if token.expires_at <= now:
        return Status.EXPIRED
    return Status.ACTIVE


def token_authenticate(key: str) -> ApiToken | None:
    """The usable token with this key, its user loaded; None for anything else. Reads only."""
    if not KEY_PATTERN.fullmatch(key):
        return None  # malformed: never reaches the database
    # With the user's unit (and its parent: a commission's jurisdiction), which every scoped
    # read of the request needs: one query per request, not two or three.
    token = (
        ApiToken.objects.select_related("user__unit__parent").filter(key_hash=hash_key(key)).first()
    )
    if token is None or token_status(token) != Status.ACTIVE:
        return None
    return token


def user_tokens(user: Any) -> QuerySet[ApiToken]:
    """The user's own tokens, unrevoked first, newest first (the tokens page's list)."""
    return (
        ApiToken.objects.filter(user_id=user.pk)
        .select_related("user")
        .order_by(F("revoked_at").desc(nulls_first=True), "-created_at", "-pk")
    )


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        message = _("请填写令牌名称。")
        raise InvalidInput(message, fields={"name": [message]})
    if len(name) > NAME_MAX_LENGTH:
        message = _("令牌名称最多 %(n)s 个字符。") % {"n": NAME_MAX_LENGTH}
        raise InvalidInput(message, fields={"name": [message]})
    return name


def token_issue(*, user: User, name: str, replace: bool = False) -> IssuedToken:
    """A new token for `user` under `name`; its key is in the answer and nowhere else.

    Serialised per user by a lock on the user's row, so that racing requests cannot both
    pass the checks: the cap and the one-token-per-name rule hold under concurrency (and the
    database's partial unique constraint backs the latter).
    """
    name = _clean_name(name)
    with transaction.atomic():
        owner = User.objects.select_for_update().get(pk=user.pk)
        if not owner.is_active:
            raise InvalidInput(_("账户已停用，不能创建令牌。"))
        now = timezone.now()
        unrevoked = list(owner.api_tokens.filter(revoked_at__isnull=True))
        for token in unrevoked:
            token.user = owner
        usable = [t for t in unrevoked if token_status(t, now=now) == Status.ACTIVE]
        same_name = [t for t in unrevoked if t.name == name]
        if same_name and same_name[0] in usable and not replace:
            message = _("已有名为“%(name)s”的有效令牌，请换一个名称或先撤销它。") % {"name": name}
            raise Conflict(message, fields={"name": [message]})
        if same_name:
            # An ended token of that name (or, with `replace`, a usable one) gives way.
            ApiToken.objects.filter(pk=same_name[0].pk).update(revoked_at=now)
            usable = [t for t in usable if t.pk != same_name[0].pk]
        limit = settings.API_TOKEN_MAX_PER_USER
        if len(usable) >= limit:
            raise Conflict(_("每个账户最多 %(n)s 个有效令牌，请先撤销不用的令牌。") % {"n": limit})
        key = secrets.token_hex(20)
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=owner,
                    name=name,
                    key_prefix=key[:PREFIX_LENGTH],
                    key_hash=hash_key(key),
                    password_fingerprint=password_fingerprint(owner),
                    created_at=now,
                    expires_at=now + timedelta(days=settings.API_TOKEN_TTL_DAYS),
                )
        except IntegrityError:  # only if a write bypassed the lock above
            raise Conflict(_("令牌正在由另一请求创建，请稍后重试。")) from None
    return IssuedToken(token, key)


def token_revoke(*, user: Any, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens; another user's token is answered as missing."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(user_id=user.pk, pk=token_id).first()
        if token is None:
            raise NotFound(_("令牌不存在。"))
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
    return token


def token_revoke_all(user: Any) -> int:
    """Revoke every unrevoked token of the user; returns how many there were."""
    return ApiToken.objects.filter(user_id=user.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
