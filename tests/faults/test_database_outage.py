"""PostgreSQL restarting, as a live server (gunicorn, persistent connections) sees it through
a proxy: requests during the outage get 503 with Retry-After (the API's error shape under
/api/), a write cut off midway leaves nothing behind, and the same process serves again as
soon as the database is back."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection

from cases.models import Case, CaseEvent
from tests.factories import api_key
from tests.live_server import LiveServer

from .conftest import needs_postgres
from .proxy import REFUSE, FaultProxy

pytestmark = [needs_postgres, pytest.mark.postgres]


@dataclass
class Server(LiveServer):
    db: FaultProxy


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory) -> Iterator[Server]:
    db = connection.settings_dict
    proxy = FaultProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    folder = tmp_path_factory.mktemp("server")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{credentials}@127.0.0.1:{proxy.port}/{db['NAME']}",
        "DATABASE_CONN_MAX_AGE": "600",  # persistent connections, as in production
        "DATABASE_CONNECT_TIMEOUT": "3",
        # Debug on only because the test has no collected static files; the outage pages
        # and logs are the production ones (LOG_FORMAT is forced to JSON).
        "DJANGO_DEBUG": "true",
        "LOG_FORMAT": "json",
        "TRACKER_VAR_DIR": str(folder / "var"),
    }
    server = Server.start(env, folder, db=proxy)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        proxy.close()


@pytest.fixture
def live(server, world, client) -> Iterator[tuple[Server, Any, str, str]]:
    """The server, a case of unit A, and inspector A's session and API token."""
    server.db.mode = "forward"
    case = world.case(world.unit_a)
    client.force_login(world.inspector_a)
    session = client.cookies["sessionid"].value
    token = api_key(world.inspector_a)
    yield server, case, session, token
    server.db.mode = "forward"
    server.db.cut_on(None)


def assert_unavailable_page(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 503
    assert headers["Content-Type"].startswith("text/html")
    assert int(headers["Retry-After"]) > 0
    text = body.decode()
    assert "服务暂时不可用" in text and "Service temporarily unavailable" in text
    assert "Traceback" not in text and "psycopg" not in text


def assert_unavailable_json(status: int, headers: dict[str, str], body: bytes, message: str):
    assert status == 503
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Retry-After"]) > 0
    assert json.loads(body) == {"status": 503, "code": "unavailable", "message": message,
                                "fields": {}}  # fmt: skip


def events(case: Case) -> int:
    return CaseEvent.objects.filter(case=case).count()


@pytest.mark.django_db(transaction=True)
def test_a_restart_between_requests_goes_unnoticed(live):
    server, case, session, _token = live
    assert server.request("GET", f"/cases/{case.pk}/", session=session)[0] == 200
    before = server.db.connections
    server.db.cut()  # the server restarted: the worker's persistent connection is dead
    # CONN_HEALTH_CHECKS: the dead connection is noticed before use and replaced.
    assert server.request("GET", f"/cases/{case.pk}/", session=session)[0] == 200
    assert server.db.connections > before


@pytest.mark.django_db(transaction=True)
def test_requests_get_503_while_the_database_is_down_and_succeed_after(live):
    server, case, session, token = live
    assert server.request("GET", f"/cases/{case.pk}/", session=session)[0] == 200
    history = events(case)

    with server.db.outage(REFUSE):
        started = time.monotonic()
        assert_unavailable_page(*server.request("GET", f"/cases/{case.pk}/", session=session))
        assert_unavailable_json(
            *server.request("GET", "/api/v1/cases/", token=token),
            message="服务暂时不可用，请稍后重试。",
        )
        assert_unavailable_json(
            *server.request("GET", "/api/v1/cases/", token=token, language="en"),
            message="Service temporarily unavailable. Please try again later.",
        )
        posted = server.request(
            "POST", f"/cases/{case.pk}/transition/", session=session, form={"to": "in_progress"}
        )
        assert_unavailable_page(*posted)
        moved = server.request(
            "POST", f"/api/v1/cases/{case.pk}/transitions/", token=token,
            json_body={"to": "in_progress"},
        )  # fmt: skip
        assert_unavailable_json(*moved, message="服务暂时不可用，请稍后重试。")
        status, _headers, body = server.request("GET", "/healthz")
        assert status == 503
        assert json.loads(body)["status"] == "unavailable"
        assert json.loads(body)["database"] == "error"
        assert time.monotonic() - started < 10
    assert Case.objects.get(pk=case.pk).status == "open" and events(case) == history

    # Back: the same process answers, with new connections.
    status, _headers, body = server.request("GET", "/healthz")
    assert status == 200 and json.loads(body)["database"] == "ok"
    assert server.request("GET", f"/cases/{case.pk}/", session=session)[0] == 200
    assert server.request("GET", "/api/v1/cases/", token=token)[0] == 200
    posted = server.request(
        "POST", f"/cases/{case.pk}/transition/", session=session, form={"to": "in_progress"}
    )
    assert posted[0] == 302
    assert Case.objects.get(pk=case.pk).status == "in_progress" and events(case) == history + 1
    assert server.process.poll() is None
    assert sum("Booting worker" in line for line in server.log_lines()) == 1  # no restart

    # The outage is in the logs, one JSON object per line, with the request's id and path,
    # as a warning and a 503, never as a server error with a traceback.
    logs = server.json_logs()
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in logs)
    outage = [entry for entry in logs if entry["logger"] == "tracker.faults"]
    assert any(
        entry["path"] == f"/cases/{case.pk}/transition/" and entry["request_id"].startswith("test-")
        and entry["level"] == "WARNING" for entry in outage
    )  # fmt: skip
    assert any(entry.get("status") == 503 for entry in logs)
    assert not [entry for entry in logs if entry.get("status") == 500 or "exc_info" in entry]


@pytest.mark.django_db(transaction=True)
def test_a_write_cut_off_midway_leaves_nothing_behind(live):
    server, case, session, token = live
    history = events(case)
    # The connection dies after the case's UPDATE was sent, as its history row is inserted.
    server.db.cut_on(b'INSERT INTO "cases_caseevent"')
    posted = server.request(
        "POST", f"/cases/{case.pk}/transition/", session=session, form={"to": "in_progress"}
    )
    assert_unavailable_page(*posted)
    assert server.db.cuts_on_marker == 1
    assert Case.objects.get(pk=case.pk).status == "open" and events(case) == history

    moved = server.request(
        "POST", f"/api/v1/cases/{case.pk}/transitions/", token=token,
        json_body={"to": "in_progress"},
    )  # fmt: skip
    assert_unavailable_json(*moved, message="服务暂时不可用，请稍后重试。")
    assert server.db.cuts_on_marker == 2
    assert Case.objects.get(pk=case.pk).status == "open" and events(case) == history

    server.db.cut_on(None)
    posted = server.request(
        "POST", f"/cases/{case.pk}/transition/", session=session, form={"to": "in_progress"}
    )
    assert posted[0] == 302
    assert Case.objects.get(pk=case.pk).status == "in_progress" and events(case) == history + 1
