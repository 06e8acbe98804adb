"""LDAP sign-on (django-auth-ldap): the directory checks the password, the claim rules place
the account (sso.services.sign_on) from the entry's attributes and its groups' DNs ("groups").

A directory user whose name is a local account's is not this backend's: the password is left
to the local one (break-glass and demo accounts keep working when the directory is down or has
a namesake), and the local account is never taken over.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django_auth_ldap.backend import LDAPBackend

from cases.accounts import UnitBackend

from . import services
from .models import Source

logger = logging.getLogger(__name__)


def directory_claims(ldap_user: Any, with_groups: bool) -> dict[str, Any]:
    """The entry's attributes (by their name and in lower case) and, where groups are
    configured, the DNs of the groups it belongs to as "groups"."""
    claims: dict[str, Any] = {}
    for name, values in dict(ldap_user.attrs).items():
        claims[name] = list(values)
        claims[name.lower()] = list(values)
    claims["groups"] = sorted(ldap_user.group_dns) if with_groups else []
    return claims


def _first(claims: dict[str, Any], name: str) -> str:
    values = claims.get(name) or [""]
    return str(values[0])


class DirectoryBackend(LDAPBackend):
    def get_user(self, user_id: Any) -> Any:
        # A password session's read: the unit in the same query, the scope remembered for the
        # request (django-auth-ldap's own reads the bare user).
        return UnitBackend().get_user(user_id)

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[Any, bool]:
        claims = directory_claims(ldap_user, with_groups=self.settings.GROUP_SEARCH is not None)
        try:
            user = services.sign_on(
                source=Source.LDAP,
                issuer=self.settings.SERVER_URI,
                subject=username.lower(),
                username=username,
                claims=claims,
                full_name=_first(claims, "cn"),
                email=_first(claims, "mail"),
                request=getattr(ldap_user, "_request", None),
            )
        except services.AccountTaken as refusal:
            raise ldap_user.AuthenticationFailed(refusal.message) from None
        except services.SignOnRefused as refusal:
            request = getattr(ldap_user, "_request", None)
            if request is not None:
                messages.error(request, refusal.message)
            raise ldap_user.AuthenticationFailed(refusal.message) from None
        # Saved by the service; nothing for django-auth-ldap to build.
        return user, False
