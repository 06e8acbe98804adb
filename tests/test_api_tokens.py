"""API tokens: stored hashed and shown once, expiring, ended by any password change and by
disabling the account, capped per user with one per name, and managed by their owner alone on
/accounts/tokens/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.tokens import default_token_generator
from django.db import connection
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from cases import tokens
from cases.errors import Conflict
from cases.models import ApiToken, User
from tests.factories import PASSWORD, api_key

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
TOKEN_URL = "/api/v1/auth/token/"
TOKENS_PAGE = "/accounts/tokens/"
NEW_PASSWORD = "a-brand-new-passphrase-7"
START = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


def api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def shown_key(response) -> str:
    found = re.search(r'id="issued-key"[^>]*value="([0-9a-f]{40})"', response.content.decode())
    assert found, response.content.decode()[:3000]
    return found.group(1)


# --- Stored hashed, shown once ----------------------------------------------------------------


def test_it_stores_only_the_hash_of_a_key_issued_by_the_endpoint(world):
    response = APIClient().post(
        TOKEN_URL, {"username": "api_reader", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    key = body["token"]
    assert re.fullmatch(r"[0-9a-f]{40}", key) and body["name"] == "api" and body["expires_at"]
    with connection.cursor() as cursor:  # no column of any row holds the key
        cursor.execute("SELECT * FROM cases_apitoken")
        rows = cursor.fetchall()
    assert len(rows) == 1 and not any(key in str(value) for value in rows[0])
    assert api(key).get(CASES).status_code == 200


def test_it_refuses_a_key_whose_hash_is_stored_as_the_key(world):
    # Someone who reads the table holds hashes: a hash is not a key.
    api_key(world.api_reader)
    stored = ApiToken.objects.get(user=world.api_reader)
    assert api(stored.key_hash[:40]).get(CASES).status_code == 401


def test_it_shows_a_new_key_once_on_the_tokens_page(client, world):
    client.force_login(world.inspector_a)
    created = client.post(TOKENS_PAGE, {"name": "大屏"})
    assert created.status_code == 200
    assert created["Cache-Control"].count("no-store") == 1
    key = shown_key(created)
    assert "它只显示这一次" in created.content.decode()
    assert api(key).get(CASES).status_code == 200
    listed = client.get(TOKENS_PAGE).content.decode()
    assert key not in listed and key[:8] in listed and "大屏" in listed and "有效" in listed


# --- Expiry, password, account ------------------------------------------------------------------


def test_it_expires_a_token_after_the_configured_days(world, settings):
    settings.API_TOKEN_TTL_DAYS = 30
    with time_machine.travel(START, tick=False) as clock:
        key = tokens.token_issue(user=world.api_reader, name="省级平台").key
        clock.shift(timedelta(days=30) - timedelta(seconds=1))
        assert api(key).get(CASES).status_code == 200
        clock.shift(timedelta(seconds=1))
        refused = api(key).get(CASES)
    assert refused.status_code == 401 and refused.json()["message"] == "令牌无效或已过期。"
    assert refused["WWW-Authenticate"] == "Token"


def test_a_get_with_a_token_writes_nothing(world):
    key = api_key(world.api_reader)
    before = list(ApiToken.objects.values())
    assert api(key).get("/api/v1/units/").status_code == 200
    assert list(ApiToken.objects.values()) == before


def _change_on_the_page(client, world) -> None:
    client.force_login(world.inspector_a)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302


def _change_by_reset_link(client, world) -> None:
    user = world.inspector_a
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = client.get(f"/accounts/reset/{uid}/{default_token_generator.make_token(user)}/")
    assert link.status_code == 302
    response = client.post(
        link["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/reset/done/"


def _change_in_the_admin(client, world) -> None:
    client.force_login(world.admin)
    url = reverse("admin:auth_user_password_change", args=[world.inspector_a.pk])
    response = client.post(
        url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def _change_in_a_shell(client, world) -> None:
    user = User.objects.get(pk=world.inspector_a.pk)
    user.set_password(NEW_PASSWORD)
    user.save()


@pytest.mark.parametrize(
    "change",
    [_change_on_the_page, _change_by_reset_link, _change_in_the_admin, _change_in_a_shell],
    ids=["page", "reset_link", "admin", "shell"],
)
def test_a_password_change_by_any_path_ends_the_users_tokens(client, world, change):
    key = api_key(world.inspector_a)
    other = api_key(world.inspector_b)
    assert api(key).get(CASES).status_code == 200
    change(client, world)
    assert User.objects.get(pk=world.inspector_a.pk).check_password(NEW_PASSWORD)
    assert api(key).get(CASES).status_code == 401
    assert api(other).get(CASES).status_code == 200  # somebody else's token lives on
    client.force_login(User.objects.get(pk=world.inspector_a.pk))
    assert "已失效（密码已更改）" in client.get(TOKENS_PAGE).content.decode()


def test_a_token_issued_after_the_change_works(world):
    world.inspector_a.set_password(NEW_PASSWORD)
    world.inspector_a.save()
    key = tokens.token_issue(user=world.inspector_a, name="新令牌").key
    assert api(key).get(CASES).status_code == 200


def test_rotating_the_secret_key_keeps_tokens_while_the_old_key_is_a_fallback(world, settings):
    key = api_key(world.inspector_a)
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-for-this-test-only-0123456789"
    settings.SECRET_KEY_FALLBACKS = [old]
    assert api(key).get(CASES).status_code == 200
    settings.SECRET_KEY_FALLBACKS = []
    assert api(key).get(CASES).status_code == 401


def test_a_disabled_account_keeps_no_usable_token_even_when_enabled_again(world):
    from cases import accounts

    key = api_key(world.inspector_a)
    accounts.user_disable(world.inspector_a, actor=world.admin)
    assert api(key).get(CASES).status_code == 401
    User.objects.filter(pk=world.inspector_a.pk).update(is_active=True)
    assert api(key).get(CASES).status_code == 401


# --- How many, and under which names ---------------------------------------------------------


def test_it_keeps_one_usable_token_per_name(world):
    first = tokens.token_issue(user=world.supervisor, name="大屏")
    with pytest.raises(Conflict) as refused:
        tokens.token_issue(user=world.supervisor, name="大屏")
    assert "大屏" in refused.value.message and "name" in refused.value.fields
    replaced = tokens.token_issue(user=world.supervisor, name="大屏", replace=True)
    assert api(first.key).get(CASES).status_code == 401
    assert api(replaced.key).get(CASES).status_code == 200
    # Another user may use the same name.
    tokens.token_issue(user=world.inspector_a, name="大屏")


def test_it_caps_the_usable_tokens_of_a_user(world, settings):
    settings.API_TOKEN_MAX_PER_USER = 3
    issued = [tokens.token_issue(user=world.supervisor, name=f"客户端{n}") for n in range(3)]
    with pytest.raises(Conflict) as refused:
        tokens.token_issue(user=world.supervisor, name="客户端3")
    assert "最多 3 个有效令牌" in refused.value.message
    assert ApiToken.objects.filter(user=world.supervisor).count() == 3
    # The endpoint's rotation of an existing name stays possible at the cap...
    tokens.token_issue(user=world.supervisor, name="客户端0", replace=True)
    # ...and a revoked or expired token frees its place.
    tokens.token_revoke(user=world.supervisor, token_id=issued[1].token.pk)
    tokens.token_issue(user=world.supervisor, name="客户端3")


def test_the_endpoint_answers_the_cap_with_409(world, settings):
    settings.API_TOKEN_MAX_PER_USER = 1
    api_key(world.api_reader, name="已有")
    response = APIClient().post(
        TOKEN_URL, {"username": "api_reader", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 409 and "最多 1 个有效令牌" in response.json()["message"]


# --- The tokens page --------------------------------------------------------------------------


def test_the_tokens_page_lists_only_ones_own_tokens(client, world):
    api_key(world.inspector_a, name="甲的令牌")
    api_key(world.inspector_b, name="乙的令牌")
    client.force_login(world.inspector_a)
    page = client.get(TOKENS_PAGE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "甲的令牌" in text and "乙的令牌" not in text
    for label in ("API 令牌", "名称", "前缀", "创建时间", "到期时间", "状态", "撤销", "创建令牌"):
        assert label in text


def test_the_tokens_page_needs_a_login(client):
    response = client.get(TOKENS_PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_user_revokes_an_own_token_on_the_page(client, world):
    key = api_key(world.inspector_a, name="报表")
    token = ApiToken.objects.get(user=world.inspector_a)
    client.force_login(world.inspector_a)
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == TOKENS_PAGE
    assert api(key).get(CASES).status_code == 401
    page = client.get(TOKENS_PAGE).content.decode()
    assert "令牌“报表”已撤销。" in page and "已撤销" in page


def test_another_users_token_is_answered_as_a_missing_one(client, world):
    key = api_key(world.inspector_b)
    token = ApiToken.objects.get(user=world.inspector_b)
    client.force_login(world.inspector_a)
    foreign = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    missing = client.post("/accounts/tokens/987654321/revoke/")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content.replace(str(token.pk).encode(), b"<id>") == missing.content.replace(
        b"987654321", b"<id>"
    )
    assert api(key).get(CASES).status_code == 200


def test_the_tokens_page_needs_the_csrf_token(world):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world.inspector_a)
    assert client.post(TOKENS_PAGE, {"name": "x"}).status_code == 403
    api_key(world.inspector_a)
    token = ApiToken.objects.get(user=world.inspector_a)
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 403
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert ApiToken.objects.filter(user=world.inspector_a).count() == 1


def test_a_refused_name_is_a_form_error_and_stores_nothing(client, world):
    api_key(world.inspector_a, name="大屏")
    client.force_login(world.inspector_a)
    blank = client.post(TOKENS_PAGE, {"name": "  "})
    taken = client.post(TOKENS_PAGE, {"name": "大屏"})
    assert blank.status_code == taken.status_code == 400
    assert "已有名为“大屏”的有效令牌" in taken.content.decode()
    assert 'id="issued-key"' not in taken.content.decode()
    assert ApiToken.objects.filter(user=world.inspector_a).count() == 1
