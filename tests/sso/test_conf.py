"""Sign-on settings from the environment (sso/conf.py): nothing set changes nothing; half a
configuration stops the start naming what is missing; the password backend stays last."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from sso.conf import OIDC_REQUIRED, sso_settings

BACKENDS = ["axes.backends.AxesStandaloneBackend", "cases.accounts.UnitBackend"]
OIDC = {"OIDC_RP_CLIENT_ID": "tracker", **{name: f"value-of-{name}" for name in OIDC_REQUIRED}}


def test_nothing_configured_changes_nothing():
    assert sso_settings({}, list(BACKENDS)) == {"AUTHENTICATION_BACKENDS": BACKENDS}


def test_half_an_oidc_configuration_stops_the_start_naming_what_is_missing():
    environ = {**OIDC, "OIDC_OP_JWKS_ENDPOINT": " ", "OIDC_OP_ISSUER": ""}
    with pytest.raises(ImproperlyConfigured, match="OIDC_OP_ISSUER, OIDC_OP_JWKS_ENDPOINT"):
        sso_settings(environ, list(BACKENDS))


@pytest.mark.parametrize("algorithm", ["HS256", "none", "PS256"])
def test_it_refuses_an_id_token_algorithm_without_the_providers_key(algorithm):
    with pytest.raises(ImproperlyConfigured, match="OIDC_RP_SIGN_ALGO"):
        sso_settings({**OIDC, "OIDC_RP_SIGN_ALGO": algorithm}, list(BACKENDS))


def test_oidc_adds_its_backend_before_the_password_backend():
    values = sso_settings(OIDC, list(BACKENDS))
    assert values["AUTHENTICATION_BACKENDS"] == [BACKENDS[0], "sso.oidc.OIDCBackend", BACKENDS[1]]
    assert values["OIDC_OP_ISSUER"] == "value-of-OIDC_OP_ISSUER"
    assert values["OIDC_RP_SIGN_ALGO"] == "RS256" and values["OIDC_USE_PKCE"] is True
    assert values["OIDC_USERNAME_CLAIM"] == "sub"


def test_ldap_needs_its_search_base_and_adds_its_backend():
    pytest.importorskip("django_auth_ldap")
    with pytest.raises(ImproperlyConfigured, match="LDAP_USER_SEARCH_BASE"):
        sso_settings({"LDAP_SERVER_URI": "ldap://127.0.0.1:1"}, list(BACKENDS))
    values = sso_settings(
        {"LDAP_SERVER_URI": "ldap://127.0.0.1:1", "LDAP_USER_SEARCH_BASE": "ou=people,dc=x"},
        list(BACKENDS),
    )
    assert values["AUTHENTICATION_BACKENDS"][-2:] == ["sso.directory.DirectoryBackend", BACKENDS[1]]
    assert values["AUTH_LDAP_USER_SEARCH"].base_dn == "ou=people,dc=x"
    assert "AUTH_LDAP_GROUP_SEARCH" not in values


@pytest.mark.parametrize(
    ("claim", "kept"),
    [(True, True), ("true", True), ("false", False), (False, False), (None, False)],
)
def test_only_a_verified_email_is_kept(claim, kept):
    from sso.oidc import verified

    assert verified({"email": "a@b.cn", "email_verified": claim}) is kept
