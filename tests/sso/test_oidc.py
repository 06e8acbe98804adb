"""OpenID Connect sign-on against a real provider (tests/sso/provider/, a django-oauth-toolkit
server started by conftest.py): the whole code flow through the tracker's pages, the claim
rules placing the account, and what an attacker might try at each step."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEntry
from cases.accounts import user_disable
from cases.models import User
from cases.workflow import Role
from sso.models import ClaimRule, ExternalIdentity
from tests.factories import PASSWORD, World
from tests.sso.conftest import CALLBACK, Provider, provider_login, sign_in

pytestmark = pytest.mark.django_db

REFUSED = "您的身份信息未匹配任何单位和角色规则"


@pytest.fixture
def rules(world: World) -> dict[str, ClaimRule]:
    return {
        "supervisors": ClaimRule.objects.create(
            claim="groups",
            value="jc-jiwei-supervisors",
            unit=world.commission,
            role=Role.SUPERVISOR,
            priority=10,
        ),
        "liaison": ClaimRule.objects.create(
            claim="org.code",
            match=ClaimRule.Match.REGEX,
            value=r"JX-A-\d{2}",
            unit=world.unit_a,
            role=Role.INSPECTOR,
            priority=20,
        ),
    }


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get(SESSION_KEY)
    return User.objects.select_related("unit").get(pk=user_id) if user_id else None


def refusal_shown(client: Client, answer: Any) -> str:
    assert answer.status_code == 302
    assert answer["Location"] == "/accounts/login/"
    page = client.get(answer["Location"])
    return page.content.decode()


# --- The flow ------------------------------------------------------------------------------------


def test_it_signs_in_with_the_unit_and_role_of_the_first_matching_rule(client, oidc, world, rules):
    answer = sign_in(client, "wang")
    assert answer.status_code == 302 and answer["Location"] == "/"
    user = signed_in_user(client)
    assert user is not None
    assert (user.unit, user.role, user.full_name) == (world.commission, "supervisor", "王监督")
    assert not user.is_superuser and not user.is_staff
    assert not user.has_usable_password()  # the provider's password is never the tracker's
    identity = ExternalIdentity.objects.get(user=user)
    assert (identity.source, identity.issuer) == ("oidc", oidc.discovery["issuer"])
    assert identity.rule == rules["supervisors"]
    assert AuditEntry.objects.filter(action="user_create", target_id=str(user.pk)).exists()
    # The commission's supervisor sees the city's cases.
    case = world.case(world.unit_b)
    assert client.get(f"/cases/{case.pk}/").status_code == 200

    other = Client()
    sign_in(other, "li")
    liaison = signed_in_user(other)
    assert (liaison.unit, liaison.role) == (world.unit_a, "inspector")
    assert other.get(f"/cases/{case.pk}/").status_code == 404  # 乙县局's case: not theirs


def test_it_returns_to_the_page_asked_for(client, oidc, world, rules):
    assert sign_in(client, "wang", next_url="/cases/")["Location"] == "/cases/"


def test_a_later_sign_on_follows_the_rules_and_keeps_the_account(client, oidc, world, rules):
    sign_in(client, "li")
    first = signed_in_user(client)
    client.logout()
    rules["liaison"].unit = world.unit_b
    rules["liaison"].save()
    sign_in(client, "li")
    again = signed_in_user(client)
    assert again.pk == first.pk and again.unit == world.unit_b
    change = AuditEntry.objects.get(action="role_change", target_id=str(first.pk))
    assert change.changes["unit"] == [world.unit_a.pk, world.unit_b.pk]
    assert User.objects.filter(external_identities__isnull=False).count() == 1


def test_it_refuses_a_user_no_rule_matches_and_creates_no_account(client, oidc, world, rules):
    users = User.objects.count()
    page = refusal_shown(client, sign_in(client, "nobody"))
    assert REFUSED in page
    assert signed_in_user(client) is None
    assert User.objects.count() == users
    assert not ExternalIdentity.objects.exists()


def test_a_user_whose_rule_is_gone_is_refused_next_time(client, oidc, world, rules):
    sign_in(client, "li")
    user = signed_in_user(client)
    client.logout()
    rules["liaison"].active = False
    rules["liaison"].save()
    assert REFUSED in refusal_shown(client, sign_in(client, "li"))
    assert signed_in_user(client) is None
    user.refresh_from_db()
    assert (user.unit, user.role) == (world.unit_a, "inspector")  # nothing changed either


def test_a_disabled_account_is_refused(client, oidc, world, rules):
    sign_in(client, "li")
    user = signed_in_user(client)
    client.logout()
    user_disable(user)
    assert "该账户已停用" in refusal_shown(client, sign_in(client, "li"))
    assert signed_in_user(client) is None


def test_the_claims_change_the_placement_at_the_next_sign_on(client, oidc, world, rules):
    sign_in(client, "li")
    client.logout()
    oidc.set_claims("li", {"name": "李联络", "groups": ["jc-jiwei-supervisors"]})
    try:
        sign_in(client, "li")
        user = signed_in_user(client)
        assert (user.unit, user.role) == (world.commission, "supervisor")
    finally:
        oidc.set_claims("li", {"name": "李联络", "org": {"code": "JX-A-01"}})


# --- Attacks -----------------------------------------------------------------------------------


def test_claims_never_name_the_unit_the_role_or_admin_rights(client, oidc, world, rules):
    """mallory's claims look like the supervisors' group and name the province, the role and
    admin rights: none of it matches (whole values only), so she is refused; given a rule of
    her own she is exactly what it says and nothing more."""
    assert REFUSED in refusal_shown(client, sign_in(client, "mallory"))
    assert not User.objects.filter(full_name="jc-jiwei-supervisors").exists()
    ClaimRule.objects.create(
        claim="preferred_username",
        value="mallory",
        unit=world.unit_a_child,
        role=Role.INSPECTOR,
        priority=99,
    )
    sign_in(client, "mallory")
    user = signed_in_user(client)
    assert (user.unit, user.role) == (world.unit_a_child, "inspector")
    assert not user.is_superuser and not user.is_staff
    assert client.get("/admin/").status_code == 302  # to the admin's login: not theirs


def test_it_never_takes_over_a_local_account(client, provider, world, rules):
    """The provider's "admin" named like the local superuser: refused, the local account
    untouched and still signing in with its own password (break-glass)."""
    with override_settings(**provider.rp_settings(OIDC_USERNAME_CLAIM="preferred_username")):
        page = refusal_shown(client, sign_in(client, "admin"))
    assert "已被本系统的其他账户使用" in page
    assert signed_in_user(client) is None
    assert not ExternalIdentity.objects.exists()
    world.admin.refresh_from_db()
    assert world.admin.is_superuser and world.admin.unit is None
    answer = client.post("/accounts/login/", {"username": "admin", "password": PASSWORD})
    assert answer.status_code == 302 and signed_in_user(client) == world.admin


def test_a_forged_state_is_refused(client, oidc, world, rules):
    start = client.get("/oidc/authenticate/")
    callback = urlsplit(provider_login(start["Location"], "wang"))
    query = parse_qs(callback.query)
    query["state"] = ["forged-state"]
    answer = client.get(f"{callback.path}?{urlencode(query, doseq=True)}")
    assert answer.status_code == 400
    assert signed_in_user(client) is None
    assert not ExternalIdentity.objects.exists()


def test_a_code_issued_to_another_client_is_refused(client, oidc, world, rules):
    """The provider gives a code for "other-client"; the tracker redeems it as itself and the
    provider refuses: nobody is signed in, the login page says why."""
    start = client.get("/oidc/authenticate/")
    url = urlsplit(start["Location"])
    query = parse_qs(url.query)
    query["client_id"] = ["other-client"]
    foreign = urlunsplit(url._replace(query=urlencode(query, doseq=True)))
    callback = urlsplit(provider_login(foreign, "wang"))
    answer = client.get(f"{callback.path}?{callback.query}")
    assert "统一身份认证服务未能完成登录" in refusal_shown(client, answer)
    assert signed_in_user(client) is None
    assert not ExternalIdentity.objects.exists()


def test_a_code_carried_into_another_browser_is_refused(client, oidc, world, rules):
    """An attacker's browser with its own state presents the victim's code: the tracker
    redeems it with the attacker's PKCE verifier and the provider refuses."""
    victim = client.get("/oidc/authenticate/")
    stolen = parse_qs(urlsplit(provider_login(victim["Location"], "wang")).query)["code"][0]
    attacker = Client()
    own = parse_qs(urlsplit(attacker.get("/oidc/authenticate/")["Location"]).query)
    answer = attacker.get(
        "/oidc/callback/?" + urlencode({"code": stolen, "state": own["state"][0]})
    )
    assert "统一身份认证服务未能完成登录" in refusal_shown(attacker, answer)
    assert signed_in_user(attacker) is None
    assert not ExternalIdentity.objects.exists()


def test_a_used_state_cannot_be_replayed(client, oidc, world, rules):
    start = client.get("/oidc/authenticate/")
    callback = urlsplit(provider_login(start["Location"], "wang"))
    assert client.get(f"{callback.path}?{callback.query}").status_code == 302
    user = signed_in_user(client)
    # The same code and state again, in the same browser: the state left the session.
    assert client.get(f"{callback.path}?{callback.query}").status_code == 400
    assert signed_in_user(client) == user and User.objects.filter(pk=user.pk).exists()


# --- ID tokens the provider's key signed, or that only pretend to be ------------------------------


def _token(provider: Provider, claims: dict[str, Any], *, alg: str = "RS256") -> str:
    from jwcrypto import jwk, jwt

    kid = requests.get(provider.discovery["jwks_uri"], timeout=5).json()["keys"][0]["kid"]
    if alg == "none":
        import base64
        import json

        def part(value: dict[str, Any]) -> str:
            raw = json.dumps(value).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        return f"{part({'alg': 'none', 'kid': kid})}.{part(claims)}."
    key = jwk.JWK.from_pem(provider.private_key_pem.encode())
    token = jwt.JWT(header={"alg": alg, "kid": kid}, claims=claims)
    token.make_signed_token(key)
    return token.serialize()


@pytest.fixture
def claims(provider: Provider) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": provider.discovery["issuer"],
        "aud": "tracker",
        "sub": "42",
        "nonce": "the-nonce",
        "iat": now,
        "exp": now + 300,
    }


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "other-client"},
        {"aud": ["other-client", "tracker"], "azp": "other-client"},
        {"iss": "http://127.0.0.1:1/o"},
        {"exp": int(time.time()) - 3600},
        {"nonce": "another-nonce"},
        {"sub": ""},
    ],
    ids=["other-client", "other-azp", "other-issuer", "expired", "wrong-nonce", "no-subject"],
)
def test_the_backend_refuses_an_id_token_that_is_not_for_this_sign_on(oidc, claims, change):
    from django.core.exceptions import SuspiciousOperation

    from sso.oidc import OIDCBackend

    backend = OIDCBackend()
    assert backend.verify_token(_token(oidc, claims), nonce="the-nonce")["sub"] == "42"
    with pytest.raises(SuspiciousOperation):
        backend.verify_token(_token(oidc, {**claims, **change}), nonce="the-nonce")


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_the_backend_refuses_an_unsigned_or_symmetric_id_token(oidc, claims, alg):
    from django.core.exceptions import SuspiciousOperation

    from sso.oidc import OIDCBackend

    if alg == "HS256":
        import warnings

        import jwt

        # Signed with the client secret: what someone who knows it (any RP admin) would try.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyjwt warns that the secret is short
            raw = jwt.encode(claims, "tracker-secret", algorithm="HS256")
    else:
        raw = _token(oidc, claims, alg="none")
    with pytest.raises(SuspiciousOperation):
        OIDCBackend().verify_token(raw, nonce="the-nonce")


# --- Same as a password session; off when not configured ----------------------------------------


def test_an_oidc_session_reads_its_user_like_a_password_session(client, oidc, world, rules):
    for unit in (world.unit_a, world.unit_b, world.commission):
        world.case(unit)
    sign_in(client, "wang")
    assert client.session["_auth_user_backend"] == "sso.oidc.OIDCBackend"
    password = Client()
    answer = password.post(
        "/accounts/login/", {"username": world.supervisor.username, "password": PASSWORD}
    )
    assert answer.status_code == 302
    assert password.session["_auth_user_backend"] == "cases.accounts.UnitBackend"
    counts = []
    for browser in (client, password):
        browser.get("/cases/")  # the session's idle stamp, written at most once a minute
        with CaptureQueriesContext(connection) as queries:
            assert browser.get("/cases/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_the_login_page_offers_sign_on_only_when_configured(client, provider):
    assert "统一身份认证登录" not in client.get("/accounts/login/").content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    with override_settings(**provider.rp_settings()):
        page = client.get("/accounts/login/?next=/cases/").content.decode()
        assert "统一身份认证登录" in page and 'action="/oidc/authenticate/"' in page
        start = client.get("/oidc/authenticate/")
        assert start["Location"].startswith(provider.discovery["authorization_endpoint"])
        sent = parse_qs(urlsplit(start["Location"]).query)
        assert sent["client_id"] == ["tracker"] and sent["redirect_uri"] == [CALLBACK]
        assert {"state", "nonce", "code_challenge"} <= sent.keys()
