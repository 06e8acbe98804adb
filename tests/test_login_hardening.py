"""Login hardening: lockout counted in the database, identical answers for unknown users,
12-character passwords, session key rotation, idle and absolute session lifetime, and disabled
accounts losing their sessions and tokens at their next request."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from cases import accounts, organisation
from cases.demo import DEMO_PASSWORD
from cases.errors import InvalidInput
from cases.models import ApiToken, User
from tests.factories import PASSWORD, api_key

pytestmark = pytest.mark.django_db

HERE = "10.0.0.1"
ELSEWHERE = "10.0.0.2"
TOKEN_URL = "/api/v1/auth/token/"
START = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@pytest.fixture(autouse=True)
def _policy(settings):
    # The documented defaults, pinned: the environment must not change what is tested.
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.SESSION_IDLE_MINUTES = 30
    settings.SESSION_MAX_HOURS = 12
    settings.TRUSTED_PROXY_COUNT = 0
    cache.clear()  # the token endpoint's throttle counts in the cache


def web_login(client, username: str, password: str, address: str = HERE):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def api_login(username: str, password: str, address: str = HERE):
    return APIClient().post(
        TOKEN_URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def page(body: bytes, username: str) -> bytes:
    """The login page less what differs by nature: the (masked, per-render) CSRF token and the
    username echoed back into its field."""
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"CSRF", body)
    return body.replace(f'value="{username}"'.encode(), b'value="USERNAME"')


# --- Lockout --------------------------------------------------------------------------------


def test_it_locks_a_username_out_from_an_address_after_exactly_five_failures(client, world):
    for _attempt in range(4):
        response = web_login(client, "inspector_a", "wrong-password")
        assert response.status_code == 200
        assert "用户名" in response.content.decode() and "锁定" not in response.content.decode()
    fifth = web_login(client, "inspector_a", "wrong-password")
    assert fifth.status_code == 429
    assert "登录失败次数过多" in fifth.content.decode()
    assert fifth["Retry-After"] == "900"
    # Counted in the database (not the cache), per username and address.
    attempt = AccessAttempt.objects.get(username="inspector_a", ip_address=HERE)
    assert attempt.failures_since_start == 5

    # Locked: even the right password is refused from this address...
    refused = web_login(client, "inspector_a", PASSWORD)
    assert refused.status_code == 429 and "登录失败次数过多" in refused.content.decode()
    assert not logged_in(client)
    # ...but not from another address, nor for another username from this one.
    assert web_login(client, "inspector_b", PASSWORD).status_code == 302
    client.logout()
    assert web_login(client, "inspector_a", PASSWORD, address=ELSEWHERE).status_code == 302
    assert logged_in(client)


def test_it_lets_four_failures_pass_and_forgets_them_on_success(client, world):
    for _attempt in range(4):
        assert web_login(client, "inspector_a", "wrong-password").status_code == 200
    assert web_login(client, "inspector_a", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username="inspector_a").exists()
    client.logout()
    for _attempt in range(4):  # a fresh count: four more failures still do not lock
        assert web_login(client, "inspector_a", "wrong-password").status_code == 200
    assert web_login(client, "inspector_a", PASSWORD).status_code == 302


def test_it_lifts_the_lockout_after_the_cool_off(client, world):
    with time_machine.travel(START, tick=False) as clock:
        for _attempt in range(5):
            web_login(client, "inspector_a", "wrong-password")
        assert web_login(client, "inspector_a", PASSWORD).status_code == 429
        clock.shift(timedelta(minutes=14))
        assert web_login(client, "inspector_a", PASSWORD).status_code == 429
        clock.shift(timedelta(minutes=16))  # the refused attempt restarted the cool-off
        assert web_login(client, "inspector_a", PASSWORD).status_code == 302


def test_it_locks_out_the_token_endpoint_with_the_api_error_shape(world):
    for _attempt in range(4):
        response = api_login("api_reader", "wrong-password")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
    fifth = api_login("api_reader", "wrong-password")
    assert fifth.status_code == 429
    assert fifth["Retry-After"] == "900"
    body = fifth.json()
    assert body["status"] == 429 and body["code"] == "locked_out" and body["fields"] == {}
    assert "登录失败次数过多" in body["message"]

    refused = api_login("api_reader", PASSWORD)
    assert refused.status_code == 429 and refused.json() == body
    assert not ApiToken.objects.exists()
    assert api_login("api_reader", PASSWORD, address=ELSEWHERE).status_code == 200


def test_it_counts_failures_on_the_login_page_and_the_token_endpoint_together(client, world):
    for _attempt in range(3):
        web_login(client, "api_reader", "wrong-password")
    for _attempt in range(2):
        api_login("api_reader", "wrong-password")
    assert web_login(client, "api_reader", PASSWORD).status_code == 429
    assert api_login("api_reader", PASSWORD).status_code == 429


def test_it_answers_in_english_when_asked(world):
    for _attempt in range(5):
        response = APIClient().post(
            TOKEN_URL,
            {"username": "api_reader", "password": "wrong-password"},
            format="json",
            REMOTE_ADDR=HERE,
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert response.status_code == 429
    assert response.json()["message"].startswith("Too many failed login attempts")


def test_it_takes_the_address_from_the_trusted_proxy(client, world, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _attempt in range(5):
        client.post(
            reverse("login"),
            {"username": "inspector_a", "password": "wrong-password"},
            REMOTE_ADDR="172.18.0.1",
            HTTP_X_FORWARDED_FOR=f"1.2.3.4, {HERE}",  # the first entry is the client's claim
        )
    assert AccessAttempt.objects.get(username="inspector_a").ip_address == HERE
    other = client.post(
        reverse("login"),
        {"username": "inspector_a", "password": PASSWORD},
        REMOTE_ADDR="172.18.0.1",
        HTTP_X_FORWARDED_FOR=ELSEWHERE,
    )
    assert other.status_code == 302


# --- Identical answers for unknown users ---------------------------------------------------


def test_the_login_page_answers_unknown_users_like_wrong_passwords(client, world):
    wrong = web_login(client, "inspector_a", "wrong-password")
    unknown = web_login(client, "nobody_here", "wrong-password")
    world.inspector_b.is_active = False
    world.inspector_b.save()
    disabled = web_login(client, "inspector_b", PASSWORD)  # right password, disabled account
    assert wrong.status_code == unknown.status_code == disabled.status_code == 200
    assert page(wrong.content, "inspector_a") == page(unknown.content, "nobody_here")
    assert page(disabled.content, "inspector_b") == page(wrong.content, "inspector_a")
    assert dict(wrong.headers).keys() == dict(unknown.headers).keys()


def test_the_lockout_answers_unknown_users_like_known_ones(client, world):
    for _attempt in range(5):
        known = web_login(client, "inspector_a", "wrong-password")
        unknown = web_login(client, "nobody_here", "wrong-password")
    assert known.status_code == unknown.status_code == 429
    assert page(known.content, "inspector_a") == page(unknown.content, "nobody_here")
    api_known = api_login("api_reader", "x", address=ELSEWHERE)
    api_unknown = api_login("ghost", "x", address=ELSEWHERE)
    assert api_known.status_code == api_unknown.status_code == 400
    assert api_known.content == api_unknown.content


def test_the_token_endpoint_answers_unknown_users_like_wrong_passwords_byte_for_byte(world):
    wrong = api_login("api_reader", "wrong-password")
    unknown = api_login("ghost", "wrong-password")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.content == unknown.content
    for _attempt in range(4):
        wrong = api_login("api_reader", "wrong-password")
        unknown = api_login("ghost", "wrong-password")
    assert wrong.status_code == unknown.status_code == 429
    assert wrong.content == unknown.content


# --- Passwords ---------------------------------------------------------------------------


def test_it_requires_twelve_characters():
    user = User(username="newcomer")
    with pytest.raises(ValidationError) as refused:
        validate_password("kx7-fw2-qpz", user)  # 11
    assert any("12" in message for message in refused.value.messages)
    validate_password("kx7-fw2-qpz9", user)  # 12


def test_user_creation_validates_the_password(world):
    with pytest.raises(InvalidInput) as refused:
        organisation.user_create(username="newcomer", password="kx7-fw2-qpz", unit=None, role="")
    assert "password" in refused.value.fields
    assert not User.objects.filter(username="newcomer").exists()
    user = organisation.user_create(
        username="newcomer", password="kx7-fw2-qpz9", unit=None, role=""
    )
    assert user.check_password("kx7-fw2-qpz9")


def test_the_password_change_page_refuses_eleven_characters(client, world):
    client.force_login(world.inspector_a)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "kx7-fw2-qpz", "new_password2": "kx7-fw2-qpz"},
    )
    assert response.status_code == 200  # the form again, with the error
    world.inspector_a.refresh_from_db()
    assert world.inspector_a.check_password(PASSWORD)


def test_the_test_and_demo_passwords_pass_the_validators():
    validate_password(PASSWORD, User(username="supervisor"))
    for name in ("supervisor", "admin", "api_reader", "inspector"):
        validate_password(DEMO_PASSWORD, User(username=name, email=f"{name}@example.org"))


# --- Sessions ------------------------------------------------------------------------------


def test_it_rotates_the_session_key_at_login(client, world, settings):
    session = client.session
    session["before_login"] = "kept"
    session.save()
    before = session.session_key
    assert client.cookies[settings.SESSION_COOKIE_NAME].value == before

    assert web_login(client, "inspector_a", PASSWORD).status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert client.session["before_login"] == "kept" and logged_in(client)


def _session_row(client, settings) -> Session:
    return Session.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)


def test_it_ends_a_session_idle_for_longer_than_the_timeout(client, world, settings):
    page_url = reverse("password_change")  # a light page that needs a login
    with time_machine.travel(START, tick=False) as clock:
        web_login(client, "inspector_a", PASSWORD)
        for _step in range(3):  # active every 29 minutes: 87 minutes in all
            clock.shift(timedelta(minutes=29))
            assert client.get(page_url).status_code == 200
        clock.shift(timedelta(minutes=30, seconds=1))
        response = client.get(page_url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={page_url}"
    assert not logged_in(client)
    shown = client.get(response["Location"]).content.decode()
    assert "您已超过 30 分钟未操作，请重新登录。" in shown


def test_it_writes_the_last_activity_at_most_once_a_minute(client, world, settings):
    page_url = reverse("password_change")
    with time_machine.travel(START, tick=False) as clock:
        web_login(client, "inspector_a", PASSWORD)
        saved = _session_row(client, settings).expire_date
        clock.shift(timedelta(seconds=30))
        client.get(page_url)
        assert _session_row(client, settings).expire_date == saved  # not written
        clock.shift(timedelta(seconds=30))
        client.get(page_url)
        assert _session_row(client, settings).expire_date == saved + timedelta(minutes=1)


def test_it_ends_a_session_after_its_absolute_lifetime(client, world, settings):
    page_url = reverse("password_change")
    with time_machine.travel(START, tick=False) as clock:
        web_login(client, "inspector_a", PASSWORD)
        for _step in range(28):  # busy all day, a request every 25 minutes: 11 h 40 min
            clock.shift(timedelta(minutes=25))
            assert client.get(page_url).status_code == 200, _step
        clock.shift(timedelta(minutes=20, seconds=1))  # 12 h and a second after the login
        response = client.get(page_url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not logged_in(client)
    assert "登录已超过 12 小时，请重新登录。" in client.get(response["Location"]).content.decode()


def test_an_expired_session_gets_the_api_error_shape(client, world):
    with time_machine.travel(START, tick=False) as clock:
        web_login(client, "supervisor", PASSWORD)
        assert client.get("/api/v1/cases/").status_code == 200
        clock.shift(timedelta(minutes=31))
        response = client.get("/api/v1/cases/")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "session_expired" and body["status"] == 401 and body["fields"] == {}
    assert client.get("/api/v1/cases/").status_code == 401  # and the session is gone


def test_an_expired_session_sends_htmx_to_the_login_page(client, world):
    with time_machine.travel(START, tick=False) as clock:
        web_login(client, "supervisor", PASSWORD)
        clock.shift(timedelta(minutes=31))
        response = client.get(
            reverse("cases:list"),
            HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL="http://testserver/cases/?status=open",
        )
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{reverse('login')}?next=/cases/%3Fstatus%3Dopen"


def test_a_new_login_restarts_the_clocks(client, world):
    with time_machine.travel(START, tick=False) as clock:
        web_login(client, "inspector_a", PASSWORD)
        for _step in range(24):  # 11 h 36 min of activity
            clock.shift(timedelta(minutes=29))
            client.get(reverse("password_change"))
        web_login(client, "inspector_a", PASSWORD)  # logs in again over the live session
        clock.shift(timedelta(minutes=29))
        assert client.get(reverse("password_change")).status_code == 200
        clock.shift(timedelta(minutes=29))  # 12 h 34 min after the first login
        assert client.get(reverse("password_change")).status_code == 200


# --- Disabling a user -----------------------------------------------------------------------


def test_disabling_a_user_ends_the_session_at_the_next_request(client, world, settings):
    web_login(client, "inspector_a", PASSWORD)
    assert client.get(reverse("cases:list")).status_code == 200
    # Directly on the model, as any code path might: Django refuses inactive users.
    User.objects.filter(pk=world.inspector_a.pk).update(is_active=False)
    response = client.get(reverse("cases:list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not logged_in(client)
    # The session was flushed: re-enabling the account does not bring it back.
    User.objects.filter(pk=world.inspector_a.pk).update(is_active=True)
    assert client.get(reverse("cases:list")).status_code == 302


def test_disabling_a_user_ends_the_api_session_and_token_at_the_next_request(client, world):
    token = api_login("supervisor", PASSWORD).json()["token"]
    with_token = APIClient()
    with_token.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    web_login(client, "supervisor", PASSWORD)
    assert with_token.get("/api/v1/cases/").status_code == 200
    assert client.get("/api/v1/cases/").status_code == 200

    accounts.user_disable(world.supervisor, actor=world.admin)

    assert with_token.get("/api/v1/cases/").status_code == 401
    assert client.get("/api/v1/cases/").status_code in (401, 403)
    assert not ApiToken.objects.filter(user=world.supervisor, revoked_at=None).exists()
    world.supervisor.refresh_from_db()
    assert not world.supervisor.is_active


def test_drf_refuses_the_token_of_a_user_disabled_on_the_model(world):
    key = api_key(world.api_reader)
    User.objects.filter(pk=world.api_reader.pk).update(is_active=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/cases/").status_code == 401


def test_disabling_a_user_in_the_admin_revokes_the_tokens(client, world):
    target = world.inspector_b
    api_key(target)
    client.force_login(world.admin)
    url = reverse("admin:cases_user_change", args=[target.pk])
    joined = target.date_joined.astimezone()
    response = client.post(
        url,
        {
            "username": target.username,
            "first_name": "",
            "last_name": "",
            "email": "",
            "is_staff": "",
            # is_active left out: the box unticked
            "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"),
            "full_name": target.full_name,
            "unit": target.unit_id,
            "role": target.role,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    target.refresh_from_db()
    assert not target.is_active
    assert not ApiToken.objects.filter(user=target, revoked_at=None).exists()


def test_the_token_endpoint_rotates_the_token_of_a_name_and_delete_revokes_it(world):
    first = api_login("api_reader", PASSWORD).json()["token"]
    second = api_login("api_reader", PASSWORD).json()["token"]
    assert first != second  # a new key each time: the old one is not stored to be shown again
    old, new = APIClient(), APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    new.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert old.get("/api/v1/cases/").status_code == 401  # replaced under the same name
    assert new.get("/api/v1/cases/").status_code == 200
    assert new.delete(TOKEN_URL).status_code == 204
    assert new.get("/api/v1/cases/").status_code == 401
    assert not ApiToken.objects.filter(user=world.api_reader, revoked_at=None).exists()
