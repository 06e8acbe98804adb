"""Fixtures for the reminder tests: a fixed policy, frozen time, people with email
addresses, and a local group-bot server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from cases.models import User
from reminders.models import UnitWebhook

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Monday with no holiday near it: every rule is tested relative to it.
TODAY = date(2026, 3, 2)


def moment(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def policy(settings):
    settings.REMINDER_DUE_SOON_DAYS = [7, 1]
    settings.REMINDER_OVERDUE_EVERY_DAYS = 7
    settings.REMINDER_ESCALATION_DAYS = 14
    settings.REMINDER_WORKING_DAYS = False
    settings.REMINDER_REMIND_ESCALATED = False
    settings.REMINDER_CHANNELS = ["email", "webhook", "in_app"]
    settings.REMINDER_LEASE_SECONDS = 300
    settings.REMINDER_MAX_ATTEMPTS = 3
    settings.REMINDER_RETRY_BASE_SECONDS = 60
    settings.REMINDER_RETRY_MAX_SECONDS = 3600
    settings.TRACKER_SITE_URL = "https://tracker.example.org"
    mail.outbox = []
    return settings


@pytest.fixture
def clock() -> Iterator[Any]:
    """Time frozen at 09:00 on TODAY (Shanghai); `clock.move_to(...)` to travel."""
    with time_machine.travel(moment(TODAY), tick=False) as traveller:
        yield traveller


@pytest.fixture
def people(world):
    """The world's people, with email addresses (the factories give none)."""
    for user in User.objects.exclude(username="no_unit"):
        user.email = f"{user.username}@example.org"
        user.save(update_fields=["email"])
    for name in ("supervisor", "inspector_a", "inspector_a_child", "inspector_b",
                 "county_a_supervisor", "api_reader"):  # fmt: skip
        getattr(world, name).refresh_from_db()
    return world


@dataclass
class Bot:
    """A local group bot: answers each POST with the next (status, body) of `answers`, the
    last one repeated; records what it received."""

    answers: list[tuple[int, dict]] = field(default_factory=lambda: [(200, {"errcode": 0})])
    delay: float = 0.0
    received: list[dict] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self) -> tuple[int, dict]:
        index = min(len(self.received) - 1, len(self.answers) - 1)
        return self.answers[index]


@pytest.fixture
def bot(settings) -> Iterator[Bot]:
    """A bot the egress policy lets through: plain http to 127.0.0.1 is allowed only by the
    development setting and the test allow-list (both refused when debug is off)."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_TEST_ALLOW_ADDRESSES = ["127.0.0.1/32"]
    state = Bot()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            state.received.append(json.loads(self.rfile.read(length)))
            state.paths.append(self.path)
            if state.delay:
                threading.Event().wait(state.delay)
            status, body = state.answer()
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (a timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/webhook/send?key=test-key"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def webhook_for(unit, bot: Bot, **kwargs: Any) -> UnitWebhook:
    return UnitWebhook.objects.create(unit=unit, url=bot.url, **kwargs)
