"""Celery for real: a worker process on the real Redis delivers a follow-up made in the
browser; with the broker down or hung, pages and the API still commit, and the scheduled run
catches up. The schedule itself."""

from __future__ import annotations

import email
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from cases.models import Case, CaseEvent
from reminders import services
from reminders.models import Delivery, Notification, Reminder
from reminders.tasks import deliver_reminders, publish, send_due_reminders
from tracker.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL", "")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def celery_conf(**values: Any) -> Iterator[None]:
    """Change the Celery app's configuration for a while (e.g. point the broker elsewhere:
    the app reads it each time it publishes, so this is all a real outage changes)."""
    conf = celery_app.conf
    old = {key: conf.get(key) for key in values}
    conf.update(values)
    try:
        yield
    finally:
        conf.update(old)


@pytest.fixture
def hung_broker() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in accepted:
            conn.close()
        server.close()


# --- Broker down or hung: the web never breaks ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_commits_page_and_api_writes_with_the_broker_down(people, client, settings, caplog):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": closed,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    world = people
    case = world.case(world.unit_a)
    started = time.monotonic()
    with celery_conf(broker_url=closed), caplog.at_level(logging.WARNING, "tracker.celery"):
        client.force_login(world.inspector_a)
        response = client.post(reverse("cases:transition", args=[case.pk]), {"to": "in_progress"})
        assert response.status_code == 302
        assert Case.objects.get(pk=case.pk).status == "in_progress"

        client.force_login(world.supervisor)
        response = client.post(reverse("cases:follow-up", args=[case.pk]), {"note": "请加快"})
        assert response.status_code == 302
        assert CaseEvent.objects.filter(case=case, kind="follow_up").count() == 1
        assert Reminder.objects.filter(case=case, kind="follow_up").count() == 2
        assert "could not publish reminders.deliver_reminders" in caplog.text

        api = APIClient()
        api.force_authenticate(world.inspector_a)  # the unit submits (cases.rules)
        moved = api.post(
            f"/api/v1/cases/{case.pk}/transitions/", {"to": "submitted", "note": "已整改"},
            format="json",
        )  # fmt: skip
        assert moved.status_code == 200 and moved.json()["status"] == "submitted"
        api.force_authenticate(world.supervisor)
        followed = api.post(f"/api/v1/cases/{case.pk}/follow-up/", {"note": "再催"}, format="json")
        assert followed.status_code == 201
        assert Reminder.objects.filter(case=case, kind="follow_up").count() == 4
        # The unit's submission tells the supervisors (reminders.events), in the same way.
        assert Reminder.objects.filter(case=case, kind="submitted").count() == 2
        assert caplog.text.count("could not publish reminders.deliver_reminders") == 3
    assert time.monotonic() - started < 5  # four writes, three failed publishes

    # The next scheduled run delivers what the lost tasks would have: one digest per channel
    # to inspector_a (both follow-ups) and to the supervisor (the submission).
    report = services.deliver()
    assert report.sent == Delivery.objects.count() == 4
    assert set(Delivery.objects.values_list("recipient", flat=True)) == {
        world.inspector_a.pk,
        world.supervisor.pk,
    }
    notes = {item["note"] for item in Notification.objects.get(user=world.inspector_a).items}
    assert notes == {"请加快", "再催"}
    kinds = [item["kind"] for item in Notification.objects.get(user=world.supervisor).items]
    assert kinds == ["submitted"]


@pytest.mark.django_db
def test_it_gives_up_publishing_quickly_when_the_broker_hangs(hung_broker, caplog):
    started = time.monotonic()
    with celery_conf(broker_url=hung_broker), caplog.at_level(logging.WARNING):
        assert publish(deliver_reminders) is False
    assert time.monotonic() - started < settings.REMINDER_PUBLISH_TIMEOUT_SECONDS + 1.5
    assert "could not publish" in caplog.text


# --- A real worker on the real Redis -----------------------------------------------------------


def _read_mail(folder: Path) -> list[email.message.Message]:
    found = []
    for path in sorted(folder.glob("*.log")) if folder.exists() else []:
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                found.append(email.message_from_bytes(chunk))
    return found


@pytest.mark.postgres
@pytest.mark.skipif(
    not REDIS_URL.startswith("redis://") or connection.vendor != "postgresql",
    reason="needs REDIS_URL and PostgreSQL (the worker process shares the test database)",
)
@pytest.mark.django_db(transaction=True)
def test_it_delivers_a_follow_up_through_a_real_worker_on_redis(people, client, tmp_path, caplog):
    # Our own queue: nothing else's messages for us, none of ours for anyone else.
    queue = f"reminders-test-{uuid.uuid4().hex}"
    with celery_conf(task_default_queue=queue), caplog.at_level(logging.INFO):
        _follow_up_through_a_worker(queue, people, client, tmp_path, caplog)


def _follow_up_through_a_worker(
    queue: str, people: Any, client: Any, tmp_path: Path, caplog: Any
) -> None:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": REDIS_URL,
        "TRACKER_VAR_DIR": str(tmp_path / "var"),
        "TRACKER_SITE_URL": "https://tracker.example.org",
        "DJANGO_DEBUG": "true",
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(  # noqa: S603 (a fixed argument list, no shell)
        [sys.executable, "-m", "celery", "-A", "tracker", "worker", "-Q", queue,
         "--pool", "solo", "--without-heartbeat", "--without-gossip", "--without-mingle",
         "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        # Publish once the worker is consuming: the test suite shares this Redis database with
        # the cache, and a concurrent test's cache.clear() (FLUSHDB) would drop a message
        # left waiting in the queue.
        log_path = tmp_path / "worker.log"
        ready_by = time.monotonic() + 40
        while b"ready." not in log_path.read_bytes() and time.monotonic() < ready_by:
            assert worker.poll() is None, log_path.read_text()
            time.sleep(0.1)
        world = people
        case = world.case(world.unit_a)
        client.force_login(world.supervisor)
        response = client.post(reverse("cases:follow-up", args=[case.pk]), {"note": "请三日内报送"})
        assert response.status_code == 302
        assert "could not publish" not in caplog.text, caplog.text
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and Delivery.objects.filter(status="sent").count() < 2:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
        assert Delivery.objects.filter(status="sent").count() == 2, (
            tmp_path / "worker.log"
        ).read_text()
        (notification,) = Notification.objects.filter(user=world.inspector_a)
        assert notification.items[0]["note"] == "请三日内报送"
        (message,) = _read_mail(tmp_path / "var" / "mail")
        assert message["To"] == "inspector_a@example.org"
        body = message.get_payload(decode=True).decode()
        assert case.code in body and "请三日内报送" in body
        assert f"https://tracker.example.org/cases/{case.pk}/" in body
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


# --- The schedule ------------------------------------------------------------------------------


def test_it_schedules_the_sweep_and_the_delivery_with_beat():
    schedule = celery_app.conf.beat_schedule
    assert schedule == settings.CELERY_BEAT_SCHEDULE
    ours = {name: entry for name, entry in schedule.items() if name.startswith("reminders-")}
    tasks = {entry["task"] for entry in ours.values()}
    assert tasks == {"reminders.send_due_reminders", "reminders.deliver_reminders"}
    assert tasks <= set(celery_app.tasks)
    assert all(entry["options"]["expires"] <= entry["schedule"] for entry in ours.values())


@pytest.mark.django_db
def test_it_runs_the_sweep_task_in_process(people, clock):
    from datetime import timedelta

    from .conftest import TODAY

    people.case(people.unit_a, deadline=TODAY + timedelta(days=1))
    result = send_due_reminders.apply().get()
    assert result["sweep"].startswith("1 cases due") and "2 sent" in result["delivery"]
