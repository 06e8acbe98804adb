"""One client address for every budget: the API's throttles, the login lockout and the
password reset's throttle all count by cases.accounts.client_address, which trusts
X-Forwarded-For only behind TRUSTED_PROXY_COUNT proxies (none by default)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from rest_framework.test import APIClient

from cases.api.throttling import TokenRateThrottle
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
RESET_URL = "/accounts/password_reset/"
ATTACKER = "203.0.113.66"
VICTIM = "198.51.100.7"
PROXY = "172.18.0.1"


@pytest.fixture(autouse=True)
def _policy(settings, monkeypatch):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.PASSWORD_RESET_WINDOW_MINUTES = 15
    settings.PASSWORD_RESET_PER_ADDRESS = 5
    settings.PASSWORD_RESET_PER_EMAIL = 3
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/minute"})
    cache.clear()


def ask_token(
    password: str = "wrong-password",  # noqa: S107 (a wrong password, on purpose)
    *,
    address: str = ATTACKER,
    forwarded=None,
):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return APIClient().post(
        TOKEN_URL,
        {"username": "api_reader", "password": password},
        format="json",
        REMOTE_ADDR=address,
        **extra,
    )


def web_login(client, password: str, *, address: str = ATTACKER, forwarded=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return client.post(
        reverse("login"),
        {"username": "inspector_a", "password": password},
        REMOTE_ADDR=address,
        **extra,
    )


# --- Throttles and lockout ----------------------------------------------------------------------


def test_rotating_x_forwarded_for_does_not_multiply_the_api_throttle_budget(world):
    answers = [ask_token(forwarded=f"10.9.0.{n}").status_code for n in range(4)]
    assert answers == [400, 400, 400, 429]


def test_rotating_x_forwarded_for_does_not_multiply_the_login_attempt_budget(client, world):
    for n in range(5):
        web_login(client, "wrong-password", forwarded=f"10.9.0.{n}")
    locked = web_login(client, PASSWORD, forwarded="10.9.0.99")
    assert locked.status_code == 429 and "登录失败次数过多" in locked.content.decode()


def test_spoofing_a_victims_address_does_not_throttle_the_victim(world):
    for _attempt in range(4):
        ask_token(forwarded=VICTIM)
    assert ask_token(forwarded=VICTIM).status_code == 429  # the attacker's own budget
    assert ask_token(PASSWORD, address=VICTIM).status_code == 200


def test_spoofing_a_victims_address_does_not_lock_the_victim_out(client, world):
    for _attempt in range(5):
        web_login(client, "wrong-password", forwarded=VICTIM)
    assert web_login(client, PASSWORD, forwarded=VICTIM).status_code == 429
    assert web_login(client, PASSWORD, address=VICTIM).status_code == 302


def test_behind_one_proxy_the_right_most_entry_counts(client, world, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client's own claims (left of the proxy's entry) change nothing.
    answers = [
        ask_token(address=PROXY, forwarded=f"10.9.0.{n}, {ATTACKER}").status_code for n in range(4)
    ]
    assert answers == [400, 400, 400, 429]
    # Another client behind the same proxy has its own budget and is not locked out.
    assert ask_token(PASSWORD, address=PROXY, forwarded=f"{ATTACKER}, {VICTIM}").status_code == 200
    for n in range(5):
        web_login(client, "wrong-password", address=PROXY, forwarded=f"10.9.0.{n}, {ATTACKER}")
    assert web_login(client, PASSWORD, address=PROXY, forwarded=ATTACKER).status_code == 429
    assert web_login(client, PASSWORD, address=PROXY, forwarded=VICTIM).status_code == 302


def test_behind_two_proxies_a_short_header_falls_back_to_the_peer(world, settings):
    # One entry where two proxies should have written two: the entry is the client's claim.
    settings.TRUSTED_PROXY_COUNT = 2
    answers = [ask_token(address=PROXY, forwarded=f"10.9.0.{n}").status_code for n in range(4)]
    assert answers == [400, 400, 400, 429]


# --- Password reset ------------------------------------------------------------------------------


def ask_reset(client, email: str, *, address: str = ATTACKER, forwarded=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return client.post(RESET_URL, {"email": email}, REMOTE_ADDR=address, **extra)


def test_password_reset_is_throttled_per_address(client, world):
    answers = [
        ask_reset(client, f"person{n}@example.org", forwarded=f"10.9.0.{n}").status_code
        for n in range(6)
    ]
    assert answers == [302] * 5 + [429]
    refused = ask_reset(client, "someone@example.org")
    assert refused.status_code == 429
    assert "密码重置请求过于频繁，请 15 分钟后再试。" in refused.content.decode()
    assert refused["Retry-After"] == "900"
    # Another address still may.
    assert ask_reset(client, "someone@example.org", address=VICTIM).status_code == 302


def test_password_reset_is_throttled_per_email(client, world):
    world.inspector_a.email = "inspector.a@example.org"
    world.inspector_a.save()
    for n in range(3):
        assert (
            ask_reset(client, "inspector.a@example.org", address=f"10.0.1.{n}").status_code == 302
        )
    assert len(mail.outbox) == 3
    # The same address in other letters is the same person's mailbox.
    refused = ask_reset(client, " Inspector.A@Example.org ", address="10.0.1.9")
    assert refused.status_code == 429 and "密码重置请求过于频繁" in refused.content.decode()
    assert len(mail.outbox) == 3  # nothing sent
    assert ask_reset(client, "other@example.org", address="10.0.1.9").status_code == 302


def test_password_reset_answers_unknown_emails_like_known_ones(client, world):
    world.inspector_a.email = "inspector.a@example.org"
    world.inspector_a.save()
    for n in range(3):
        known = ask_reset(client, "inspector.a@example.org", address=f"10.0.2.{n}")
        unknown = ask_reset(client, "nobody@example.org", address=f"10.0.3.{n}")
        assert known.status_code == unknown.status_code == 302
    known = ask_reset(client, "inspector.a@example.org", address="10.0.2.9")
    unknown = ask_reset(client, "nobody@example.org", address="10.0.3.9")
    assert known.status_code == unknown.status_code == 429
