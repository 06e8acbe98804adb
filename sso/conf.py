"""Sign-on settings from the environment (tracker/settings.py adds what this returns).

Nothing set, nothing changes: no backend is added and the login page has no sign-on button.
OIDC is on when OIDC_RP_CLIENT_ID is set, LDAP when LDAP_SERVER_URI is; each then needs its
other variables, or the start stops naming the missing ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

OIDC_BACKEND = "sso.oidc.OIDCBackend"
LDAP_BACKEND = "sso.directory.DirectoryBackend"

OIDC_REQUIRED = (
    "OIDC_RP_CLIENT_SECRET",
    # The provider's issuer: checked against every ID token's `iss`, and the key (with `sub`)
    # of the accounts it signs in.
    "OIDC_OP_ISSUER",
    "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT",
    "OIDC_OP_JWKS_ENDPOINT",
)


# Every variable read here (tests/test_deployment.py checks .env.example documents them).
VARIABLES = (
    "OIDC_RP_CLIENT_ID",
    *OIDC_REQUIRED,
    "OIDC_RP_SIGN_ALGO",
    "OIDC_RP_SCOPES",
    "OIDC_USERNAME_CLAIM",
    "LDAP_SERVER_URI",
    "LDAP_BIND_DN",
    "LDAP_BIND_PASSWORD",
    "LDAP_START_TLS",
    "LDAP_USER_SEARCH_BASE",
    "LDAP_USER_FILTER",
    "LDAP_GROUP_SEARCH_BASE",
)


def _get(environ: Mapping[str, str], name: str, default: str = "") -> str:
    assert name in VARIABLES, name  # noqa: S101 (a name missing from VARIABLES is a bug here)
    return (environ.get(name) or "").strip() or default


def _missing(environ: Mapping[str, str], names: tuple[str, ...], because: str) -> None:
    missing = [name for name in names if not _get(environ, name)]
    if missing:
        raise ImproperlyConfigured(f"{because} is set, so these must be too: {', '.join(missing)}")


def oidc_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    client_id = _get(environ, "OIDC_RP_CLIENT_ID")
    if not client_id:
        return {}
    _missing(environ, OIDC_REQUIRED, "OIDC_RP_CLIENT_ID")
    values: dict[str, Any] = {name: _get(environ, name) for name in OIDC_REQUIRED}
    algorithm = _get(environ, "OIDC_RP_SIGN_ALGO", "RS256")
    if algorithm[:2] not in ("RS", "ES"):
        # A shared-secret signature (HS256) could be made by anyone who holds the client
        # secret, not only by the provider: the provider's own keys, from its JWKS, only.
        # (mozilla-django-oidc reads the JWKS for RS* and ES* only: PS* would fail every login.)
        raise ImproperlyConfigured(f"OIDC_RP_SIGN_ALGO must be RS* or ES*, not {algorithm!r}")
    values.update(
        OIDC_RP_CLIENT_ID=client_id,
        OIDC_RP_SIGN_ALGO=algorithm,
        OIDC_RP_SCOPES=_get(environ, "OIDC_RP_SCOPES", "openid profile email"),
        # The claim that names a new account (the link itself is issuer + sub): a stable one,
        # never the email alone.
        OIDC_USERNAME_CLAIM=_get(environ, "OIDC_USERNAME_CLAIM", "sub"),
        OIDC_USE_NONCE=True,
        OIDC_USE_PKCE=True,
        OIDC_TIMEOUT=10,
        OIDC_AUTHENTICATION_CALLBACK_URL="sso:oidc-callback",
        # A refused sign-on comes back to the login page, with the reason as a message.
        LOGIN_REDIRECT_URL_FAILURE="/accounts/login/",
    )
    return values


def ldap_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    uri = _get(environ, "LDAP_SERVER_URI")
    if not uri:
        return {}
    _missing(environ, ("LDAP_USER_SEARCH_BASE",), "LDAP_SERVER_URI")
    import ldap  # python-ldap: only needed where a directory is configured
    from django_auth_ldap.config import GroupOfNamesType, LDAPSearch

    values: dict[str, Any] = {
        "AUTH_LDAP_SERVER_URI": uri,
        "AUTH_LDAP_BIND_DN": _get(environ, "LDAP_BIND_DN"),
        "AUTH_LDAP_BIND_PASSWORD": _get(environ, "LDAP_BIND_PASSWORD"),
        "AUTH_LDAP_START_TLS": _get(environ, "LDAP_START_TLS", "false").lower() == "true",
        "AUTH_LDAP_USER_SEARCH": LDAPSearch(
            _get(environ, "LDAP_USER_SEARCH_BASE"),
            ldap.SCOPE_SUBTREE,
            _get(environ, "LDAP_USER_FILTER", "(uid=%(user)s)"),
        ),
        "AUTH_LDAP_CONNECTION_OPTIONS": {ldap.OPT_NETWORK_TIMEOUT: 5, ldap.OPT_TIMEOUT: 10},
        # The account is written by sso.services.sign_on alone, not by the attribute map.
        "AUTH_LDAP_ALWAYS_UPDATE_USER": False,
    }
    group_base = _get(environ, "LDAP_GROUP_SEARCH_BASE")
    if group_base:
        values["AUTH_LDAP_GROUP_SEARCH"] = LDAPSearch(
            group_base, ldap.SCOPE_SUBTREE, "(objectClass=groupOfNames)"
        )
        values["AUTH_LDAP_GROUP_TYPE"] = GroupOfNamesType()
    return values


def sso_settings(environ: Mapping[str, str], backends: list[str]) -> dict[str, Any]:
    """The settings to add, AUTHENTICATION_BACKENDS with the configured sign-ons before the
    password backend (the last): a local account keeps its password whatever is configured."""
    oidc = oidc_settings(environ)
    ldap = ldap_settings(environ)
    added = [OIDC_BACKEND] * bool(oidc) + [LDAP_BACKEND] * bool(ldap)
    return {**oidc, **ldap, "AUTHENTICATION_BACKENDS": [*backends[:-1], *added, backends[-1]]}


def oidc_enabled() -> bool:
    """OIDC is configured (read at request time, so tests can turn it on)."""
    from django.conf import settings

    return bool(getattr(settings, "OIDC_RP_CLIENT_ID", ""))
