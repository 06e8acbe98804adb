"""OpenID Connect sign-on: mozilla-django-oidc's code flow (state, nonce and PKCE checked by
it, the ID token's signature against the provider's JWKS), with what it leaves out checked
here: the token's issuer, audience, authorised party and expiry, and the userinfo's subject.
The account is then placed by the claim rules (sso.services.sign_on).

The session's user is read as a password session's is (cases.accounts.UnitBackend.get_user:
with the unit in one query, its scope remembered for the request).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import jwt
import requests
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from cases.accounts import UnitBackend

from . import services
from .models import Source

logger = logging.getLogger(__name__)

# Clock difference tolerated between the provider and this server, in seconds.
LEEWAY_SECONDS = 60


def check_id_token(payload: Mapping[str, Any], *, issuer: str, client_id: str, now: float) -> None:
    """OIDC Core 3.1.3.7: the ID token is the provider's, for this client, and current; an ID
    token issued to another client (a token substitution) is refused."""
    if payload.get("iss") != issuer:
        raise SuspiciousOperation("ID token from another issuer")
    audience = payload.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise SuspiciousOperation("ID token for another client")
    if (len(audiences) > 1 or "azp" in payload) and payload.get("azp") != client_id:
        raise SuspiciousOperation("ID token authorised for another party")
    expires = payload.get("exp")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise SuspiciousOperation("ID token without an expiry")
    if expires + LEEWAY_SECONDS < now:
        raise SuspiciousOperation("ID token expired")
    if not isinstance(payload.get("sub"), str) or not payload["sub"]:
        raise SuspiciousOperation("ID token without a subject")


class OIDCBackend(UnitBackend, OIDCAuthenticationBackend):
    def authenticate(
        self, request: Any, username: Any = None, password: Any = None, **kwargs: Any
    ) -> Any:
        # Only the callback's call (it passes the nonce it kept): a password form posted to an
        # address with ?code=&state= never starts a code exchange.
        if request is None or "nonce" not in kwargs or username is not None or password:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except requests.RequestException as error:
            # The provider refused the code (another client's, used, expired) or is down.
            logger.warning("OIDC sign-on failed at the provider: %s", error)
            messages.error(request, _("统一身份认证服务未能完成登录，请稍后重试或联系系统管理员。"))
            return None

    def verify_token(self, token: Any, **kwargs: Any) -> Any:
        try:
            payload = super().verify_token(token, **kwargs)
        except (jwt.InvalidTokenError, KeyError) as error:
            # Expired, not yet valid, malformed, no key id: a refusal (400), not a 500.
            raise SuspiciousOperation(f"ID token refused: {error!r}") from None
        check_id_token(
            payload,
            issuer=self.get_settings("OIDC_OP_ISSUER"),
            client_id=self.OIDC_RP_CLIENT_ID,
            now=time.time(),
        )
        return payload

    def get_or_create_user(self, access_token: Any, id_token: Any, payload: Any) -> Any:
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict) or userinfo.get("sub") != payload["sub"]:
            # OIDC Core 5.3.2: another subject's userinfo must not be used.
            raise SuspiciousOperation("userinfo of another subject")
        # The ID token's signed claims win over the userinfo's where both have one.
        claims = {**userinfo, **payload}
        username = claims.get(self.get_settings("OIDC_USERNAME_CLAIM", "sub"))
        try:
            return services.sign_on(
                source=Source.OIDC,
                issuer=self.get_settings("OIDC_OP_ISSUER"),
                subject=payload["sub"],
                username=username if isinstance(username, str) else "",
                claims=claims,
                full_name=_text(claims.get("name")),
                # Only a verified address: some providers send the string "false".
                email=_text(claims.get("email")) if verified(claims) else "",
                request=self.request,
            )
        except services.SignOnRefused as refusal:
            # Shown on the login page the callback sends the browser back to.
            messages.error(self.request, refusal.message)
            return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def verified(claims: dict[str, Any]) -> bool:
    """The claims' `email_verified`, true only if it says so (a boolean or "true")."""
    return claims.get("email_verified") in (True, "true")
