"""Throttling per token (user) and on the token endpoint; a broken cache never blocks the API."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from cases.api.throttling import TokenRateThrottle, UserRateThrottle
from tests.factories import PASSWORD, api_key

pytestmark = pytest.mark.django_db


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    return client


def test_it_throttles_each_token_on_its_own(world, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute"})
    for user in (world.api_reader, world.supervisor):
        cache.delete(f"throttle_user_{user.pk}")
    reader = token_client(world.api_reader)
    answers = [reader.get("/api/v1/cases/").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    refused = reader.get("/api/v1/cases/")
    assert refused.json()["code"] == "throttled" and refused.json()["message"]
    assert int(refused["Retry-After"]) > 0
    # Another client's budget is its own.
    assert token_client(world.supervisor).get("/api/v1/cases/").status_code == 200


def test_it_throttles_the_token_endpoint_per_address(world, monkeypatch):
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "2/minute"})
    cache.delete("throttle_token_127.0.0.1")
    client = APIClient()
    answers = [
        client.post("/api/v1/auth/token/", {"username": "api_reader", "password": "wrong"},
                    format="json").status_code
        for _ in range(3)
    ]  # fmt: skip
    assert answers == [400, 400, 429]
    # Even the right password waits: guessing gains nothing by ending with it.
    right = client.post("/api/v1/auth/token/", {"username": "api_reader", "password": PASSWORD},
                        format="json")  # fmt: skip
    assert right.status_code == 429


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6390/0",  # nothing listens here
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
)
def test_it_lets_requests_through_when_the_cache_is_down(world):
    client = token_client(world.api_reader)
    assert client.get("/api/v1/cases/").status_code == 200
