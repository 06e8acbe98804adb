"""Structured logs: one JSON object per line, with the request's id, path, user and status,
a Celery task's id, and the traceback; LOG_FORMAT chooses JSON or text."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse

from tracker.celery import app as celery_app
from tracker.logging import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]


class Captured:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]


@pytest.fixture
def captured() -> Iterator[Captured]:
    """A JSON handler on the root logger (the test settings log as text)."""
    capture = Captured()
    handler = logging.StreamHandler(capture.stream)
    handler.setFormatter(JsonFormatter())
    root, django_logger = logging.getLogger(), logging.getLogger("django")
    old = root.level, django_logger.propagate
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    django_logger.propagate = True
    yield capture
    root.removeHandler(handler)
    root.setLevel(old[0])
    django_logger.propagate = old[1]


def test_it_writes_one_json_object_per_line(captured):
    log = logging.getLogger("tracker.test")
    log.info("第一行\nsecond line", extra={"job_id": 7, "unit": object()})
    try:
        raise ValueError("坏了")
    except ValueError:
        log.exception("export %s failed", 12)
    first, second = captured.lines()  # the newlines are inside the JSON strings
    entry = json.loads(first)
    assert entry["level"] == "INFO" and entry["logger"] == "tracker.test"
    assert entry["message"] == "第一行\nsecond line"
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    assert entry["job_id"] == 7 and entry["unit"].startswith("<object")
    assert "request_id" not in entry and "exc_info" not in entry
    failed = json.loads(second)
    assert failed["level"] == "ERROR" and failed["message"] == "export 12 failed"
    assert failed["exc_info"].startswith("Traceback") and "ValueError: 坏了" in failed["exc_info"]


@pytest.mark.django_db
def test_it_adds_the_request_id_path_user_and_status(captured, client, world):
    client.force_login(world.inspector_a)
    response = client.get(reverse("cases:detail", args=[999999]), HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-42"
    (entry,) = [e for e in captured.entries() if e["logger"] == "django.request"]
    assert entry["level"] == "WARNING"
    assert entry["request_id"] == "req-42"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/cases/999999/", 404)
    assert entry["user_id"] == world.inspector_a.pk

    # A request id that could forge log lines is replaced by a fresh one.
    client.logout()
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID='x"\n{"level": "ERROR"}')
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32 and request_id.isalnum()
    entry = [e for e in captured.entries() if e["logger"] == "django.request"][-1]
    assert entry["request_id"] == request_id and "user_id" not in entry


@celery_app.task(name="tests.faults.log_in_a_task")
def log_in_a_task() -> None:
    logging.getLogger("tracker.test").info("inside the task")


def test_it_adds_the_celery_task(captured):
    result = log_in_a_task.apply()
    (entry,) = [e for e in captured.entries() if e["message"] == "inside the task"]
    assert entry["task_id"] == result.id and entry["task"] == "tests.faults.log_in_a_task"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('tracker.test').warning('hello %s', '世界')"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT", "DJANGO_DEBUG")}
    base |= {
        "DJANGO_SETTINGS_MODULE": "tracker.settings",
        "DJANGO_SECRET_KEY": "x" * 50,
        "HISTORY_SEAL_KEY": "y" * 32,
        "DJANGO_ALLOWED_HOSTS": "tracker.example.org",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
        [sys.executable, "-c", script], env=base | env, cwd=ROOT, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip


def _last_line(process: subprocess.CompletedProcess[str]) -> str:
    assert process.returncode == 0, process.stderr
    return process.stderr.strip().splitlines()[-1]


def test_log_format_is_json_with_debug_off_and_can_be_chosen():
    line = _last_line(_run({"DJANGO_DEBUG": "false"}))
    entry = json.loads(line)
    assert entry["message"] == "hello 世界" and entry["level"] == "WARNING"

    assert _last_line(_run({"DJANGO_DEBUG": "false", "LOG_FORMAT": "text"})) == "hello 世界"

    refused = _run({"DJANGO_DEBUG": "true", "LOG_FORMAT": "xml"})
    assert refused.returncode != 0 and "LOG_FORMAT must be json or text" in refused.stderr


def test_it_is_text_in_debug_mode_by_default():
    if os.environ.get("LOG_FORMAT") or os.environ.get("DJANGO_DEBUG", "true") != "true":
        pytest.skip("LOG_FORMAT or DJANGO_DEBUG set in the environment")
    assert settings.LOG_FORMAT == "text"
    assert "formatter" not in settings.LOGGING["handlers"]["console"]
