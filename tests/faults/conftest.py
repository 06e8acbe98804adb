"""Outages simulated with a TCP proxy in front of the shared PostgreSQL and Redis (never
stopped: other people use them)."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection

from cases.models import User
from tests.reminders.test_celery import celery_conf

from .proxy import FaultProxy

REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(
    not REDIS_URL.startswith("redis://"), reason="needs REDIS_URL (the real Redis behind a proxy)"
)
needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (a server behind a proxy)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.fixture
def redis_proxy() -> Iterator[FaultProxy]:
    target = urlsplit(REDIS_URL)
    proxy = FaultProxy(target.hostname or "127.0.0.1", target.port or 6379)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def app_on_redis_proxy(redis_proxy, settings) -> Iterator[FaultProxy]:
    """The app's cache and Celery broker reach Redis only through the proxy, with the
    production client options (timeouts) of tracker/settings.py."""
    cache = dict(django_settings.CACHES["default"])
    assert "redis" in cache["BACKEND"], cache
    cache["LOCATION"] = redis_proxy.url("redis", f"/{redis_db(cache['LOCATION'])}")
    settings.CACHES = {"default": cache}
    with celery_conf(broker_url=redis_proxy.url("redis", f"/{redis_db(REDIS_URL)}")):
        yield redis_proxy


@pytest.fixture
def reminder_policy(settings):
    settings.REMINDER_DUE_SOON_DAYS = [7, 1]
    settings.REMINDER_OVERDUE_EVERY_DAYS = 7
    settings.REMINDER_ESCALATION_DAYS = 14
    settings.REMINDER_WORKING_DAYS = False
    settings.REMINDER_REMIND_ESCALATED = False
    settings.REMINDER_CHANNELS = ["email", "in_app"]
    settings.REMINDER_LEASE_SECONDS = 300
    settings.TRACKER_SITE_URL = "https://tracker.example.org"
    mail.outbox = []
    return settings


@pytest.fixture
def people(world, reminder_policy):
    """The world's people, with email addresses."""
    for user in User.objects.exclude(username="no_unit"):
        user.email = f"{user.username}@example.org"
        user.save(update_fields=["email"])
    for name in ("supervisor", "inspector_a", "inspector_b"):
        getattr(world, name).refresh_from_db()
    return world


@pytest.fixture
def queue() -> Iterator[str]:
    """Our own queue (on the database the other test process uses too), emptied afterwards."""
    name = f"faults-{uuid.uuid4().hex[:12]}"
    with celery_conf(task_default_queue=name):
        yield name
    client = redis.Redis.from_url(REDIS_URL, db=redis_db(REDIS_URL))
    # The unacknowledged messages' hash is shared by every queue of the database (the other
    # test process's too): only our own entries go.
    tags = unacked_tags(client, name)
    if tags:
        client.hdel("unacked", *tags)
        client.zrem("unacked_index", *tags)
    client.delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")
    client.close()


def unacked_tags(client: redis.Redis, queue: str) -> list[bytes]:
    """The delivery tags of `queue`'s messages that a worker took and did not acknowledge
    (kombu keeps each as JSON [message, exchange, routing key])."""
    return [
        tag for tag, entry in client.hgetall("unacked").items() if json.loads(entry)[2] == queue
    ]


@pytest.fixture
def workers(tmp_path) -> Iterator[Callable[..., Any]]:
    """Start real Celery workers (tests/faults/workers.py) on `queue`; killed afterwards."""
    from .workers import VISIBILITY, Worker

    started: list[Worker] = []

    def start(
        queue: str,
        name: str,
        pool: str = "solo",
        visibility: int = VISIBILITY,
        env: dict[str, str] | None = None,
    ) -> Worker:
        started.append(Worker(queue, tmp_path, name, pool, visibility, env))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()
