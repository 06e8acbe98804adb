"""The read replica for real: a PostgreSQL primary of the test's own and a hot standby
streaming from it (tests/replica/cluster.py; the machine's own cluster is never touched), the
tracker migrated and filled on the primary (tests/replica/app.py), then served by two gunicorn
processes as two web machines would run it, with DATABASE_URL on the primary,
DATABASE_REPLICA_URL on the standby and the shared Redis cache; plus a long-lived process that
reads and writes through the services, as a Celery worker does.

The replica's lag is made by pausing the standby's replay (it keeps receiving WAL, applies
none): what a read shows then says which database answered it.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.live_server import ROOT, LiveServer
from tracker.db_router import wrote_key

from .cluster import (
    Cluster,
    lag_bytes,
    make_standby,
    pause_replay,
    resume_replay,
    start_primary,
    wait_caught_up,
)

REDIS_URL = os.environ.get("REDIS_URL", "")
CACHE = settings.CACHES["default"]
pytestmark = pytest.mark.skipif(
    not REDIS_URL.startswith("redis://") or "redis" not in CACHE["BACKEND"],
    reason="needs REDIS_URL: web machines share what each user wrote through the Redis cache",
)

STATS = "/api/v1/stats/completion/?group_by=unit"
# A case's status as its page and the list's rows show it.
STATUS = r'class="status status-(\w+)"'
# The dashboard's and the progress report's completion figure: "done/total".
DONE_OF_TOTAL = re.compile(r'整改完成率</span><span class="muted">(\d+)/(\d+)</span>')


class Probe:
    """`python -m tests.replica.app probe`: one JSON command a line in, one answer out."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.replica.app", "probe"],
                cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                text=True,
            )  # fmt: skip

    def answer(self, seconds: float = 30) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], seconds)
        line = self.process.stdout.readline() if ready else ""
        assert line, f"the probe did not answer:\n{self.log.read_text(errors='replace')}"
        return json.loads(line)

    def __call__(self, do: str, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": do, **arguments}) + "\n")
        self.process.stdin.flush()
        return self.answer()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@dataclass
class Deployment:
    primary: Cluster
    standby: Cluster
    web: tuple[LiveServer, LiveServer]  # two web machines
    probe: Probe
    users: dict[str, int]
    tokens: dict[str, str]
    sessions: dict[str, str]
    cases: dict[str, list[dict[str, Any]]]


def app_env(primary: Cluster, folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": primary.url("tracker"),
        "DATABASE_CONN_MAX_AGE": "600",  # persistent connections, as in production
        "DATABASE_CONNECT_TIMEOUT": "2",
        "REDIS_URL": REDIS_URL,
        "REDIS_CACHE_URL": CACHE["LOCATION"],  # this test process's (tests/conftest.py)
        # Debug on only because the test has no collected static files.
        "DJANGO_DEBUG": "true",
        "LOG_FORMAT": "json",
        "TRACKER_VAR_DIR": str(folder / "var"),
    }


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("replica")
    primary = start_primary()
    standby: Cluster | None = None
    started: list[LiveServer | Probe] = []
    try:
        primary.query("CREATE DATABASE tracker")
        env = app_env(primary, folder)
        made = subprocess.run(
            [sys.executable, "-m", "tests.replica.app", "setup"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert made.returncode == 0, made.stdout + made.stderr
        data = json.loads(made.stdout.strip().splitlines()[-1])
        standby = make_standby(primary_port=primary.port)
        env["DATABASE_REPLICA_URL"] = standby.url("tracker")
        # What other tests recorded for these user ids in the shared cache is not ours.
        from django.core.cache import cache

        cache.delete_many([wrote_key(pk) for pk in data["users"].values()])
        web = []
        for name in ("web1", "web2"):
            (folder / name).mkdir()
            web.append(LiveServer.start({**env, "TRACKER_VAR_DIR": str(folder / name)},
                                        folder / name))  # fmt: skip
            started.append(web[-1])
        probe = Probe(env, folder / "probe.log")
        started.append(probe)
        assert probe.answer(60) == {"ready": True}
        for server in web:
            server.wait_ready()
        yield Deployment(primary, standby, (web[0], web[1]), probe, **data)
    finally:
        for process in started:
            process.stop()
        if standby is not None:
            standby.remove()
        primary.remove()


@pytest.fixture(autouse=True)
def _healthy(deployment) -> Iterator[None]:
    """Each test ends with the primary up, replay running and the standby caught up."""
    yield
    if not deployment.primary.running():
        deployment.primary.start()
    resume_replay(deployment.standby)
    wait_caught_up(deployment.primary, deployment.standby)


# --- Reading and writing over HTTP --------------------------------------------------------


def stats(server: LiveServer, token: str) -> tuple[int, int]:
    """(done, total) of GET /api/v1/stats/completion/."""
    status, _headers, body = server.request("GET", STATS, token=token)
    assert status == 200, body[:500]
    total = json.loads(body)["total"]
    return total["done"], total["total"]


def page_figure(server: LiveServer, session: str, path: str = "/dashboard/") -> tuple[int, int]:
    """(done, total) shown by the dashboard (or the progress report)."""
    status, _headers, body = server.request("GET", path, session=session)
    assert status == 200, body[:500]
    found = DONE_OF_TOTAL.search(body.decode())
    assert found, body.decode()[:2000]
    return int(found[1]), int(found[2])


def inspection_done(server: LiveServer, token: str) -> int:
    """`done` of the test world's inspection in GET /api/v1/inspections/."""
    status, _headers, body = server.request("GET", "/api/v1/inspections/", token=token)
    assert status == 200, body[:500]
    (inspection,) = [i for i in json.loads(body)["results"] if i["code"] == "T2023-1"]
    return inspection["done"]


def close_on_page(server: LiveServer, session: str, case: dict[str, Any]) -> int:
    """The supervisor verifies and closes a submitted case on its page (销号)."""
    form: dict[str, Any] = {"to": "completed", "note": "经验收，予以销号。"}
    form["confirm"] = case["points"]
    form.update({f"point_note_{point}": "已核实" for point in case["points"]})
    status, _headers, _body = server.request(
        "POST", f"/cases/{case['id']}/transition/", session=session, form=form
    )
    return status


def close_by_api(server: LiveServer, token: str, case: dict[str, Any]) -> int:
    status, _headers, _body = server.request(
        "POST", f"/api/v1/cases/{case['id']}/transitions/", token=token,
        json_body={"to": "completed", "note": "经验收，予以销号。", "confirm": case["points"],
                   "notes": {str(point): "已核实" for point in case["points"]}},
    )  # fmt: skip
    return status


def status_on(cluster: Cluster, case: dict[str, Any]) -> str:
    return cluster.query("SELECT status FROM cases_case WHERE id = %s", [case["id"]], "tracker")


def nudge(primary: Cluster) -> None:
    """Some WAL after the last write: a recorded position is where the next record starts,
    which the standby has replayed only once a record is there (at a page boundary the two
    differ by the page header)."""
    primary.query("CREATE TABLE IF NOT EXISTS nudge (at timestamptz)")
    primary.query("INSERT INTO nudge VALUES (now())")


def case_statuses(
    server: LiveServer, session: str, token: str, case: dict[str, Any]
) -> dict[str, str]:
    """The status a user reads for the case on its page, in the case list page, by
    GET /api/v1/cases/<id>/ and in GET /api/v1/cases/."""
    pk = case["id"]
    seen: dict[str, str] = {}
    status, _headers, body = server.request("GET", f"/cases/{pk}/", session=session)
    assert status == 200, body[:500]
    found = re.search(STATUS, body.decode())
    assert found, body.decode()[:2000]
    seen["page"] = found[1]
    status, _headers, body = server.request("GET", "/cases/?ordering=-updated_at", session=session)
    assert status == 200, body[:500]
    found = re.search(rf'<a href="/cases/{pk}/">.*?{STATUS}', body.decode(), re.DOTALL)
    assert found, body.decode()[:2000]
    seen["list page"] = found[1]
    status, _headers, body = server.request("GET", f"/api/v1/cases/{pk}/", token=token)
    assert status == 200, body[:500]
    seen["api"] = json.loads(body)["status"]
    status, _headers, body = server.request("GET", "/api/v1/cases/?page_size=100", token=token)
    assert status == 200, body[:500]
    (row,) = [row for row in json.loads(body)["results"] if row["id"] == pk]
    seen["api list"] = row["status"]
    return seen


def everywhere(status: str) -> dict[str, str]:
    return dict.fromkeys(("page", "list page", "api", "api list"), status)


# --- Read-your-writes ---------------------------------------------------------------------


def test_a_user_reads_their_own_writes_on_any_machine_while_the_replica_lags(deployment):
    d = deployment
    one, two = d.web
    supervisor, supervisor_session = d.tokens["supervisor"], d.sessions["supervisor"]
    reader, colleague = d.tokens["api_reader"], d.sessions["supervisor2"]
    first, second = d.cases["submitted"][0], d.cases["submitted"][1]
    before = stats(two, reader)
    assert before == stats(two, supervisor) == page_figure(two, colleague)
    inspection_before = inspection_done(one, supervisor)

    pause_replay(d.standby)
    # Closed on the page of machine one, with the session...
    assert close_on_page(one, supervisor_session, first) == 302
    assert status_on(d.primary, first) == "completed"
    assert status_on(d.standby, first) == "submitted"  # the replica has not replayed it
    assert lag_bytes(d.primary, d.standby) > 0
    after = (before[0] + 1, before[1])
    # ... and read back at once on machine two, by the session and by the API token: every
    # replica-reading page and endpoint reads the primary for this user.
    assert page_figure(two, supervisor_session) == after
    assert page_figure(two, supervisor_session, "/reports/progress/") == after
    assert stats(two, supervisor) == after
    assert inspection_done(two, supervisor) == inspection_before + 1
    # Who did not write reads the replica, which still shows the past.
    assert stats(two, reader) == before
    assert page_figure(one, colleague) == before
    assert inspection_done(one, reader) == inspection_before
    assert stats(one, d.tokens["supervisor2"]) == before

    # Closed through the API on machine two, read on the page on machine one.
    assert close_by_api(two, supervisor, second) == 200
    assert page_figure(one, supervisor_session) == (before[0] + 2, before[1])
    assert stats(one, reader) == before

    resume_replay(d.standby)
    wait_caught_up(d.primary, d.standby)
    assert stats(two, reader) == (before[0] + 2, before[1]) == page_figure(one, colleague)


def test_a_status_change_shows_on_the_writers_next_case_page_and_list_only(deployment):
    """The case list and the case page (pages and API) read the replica, and a user who moved
    a case reads the move on the next request, while the replica lags, on either machine."""
    d = deployment
    one, two = d.web
    case = d.cases["open"][4]  # moved by this test only
    # The unit's inspector moves it; a supervisor of the commission, who wrote nothing, and
    # the API reader read it too.
    writer = (d.sessions["inspector_b"], d.tokens["inspector_b"])
    colleague = (d.sessions["supervisor2"], d.tokens["supervisor2"])
    assert (
        case_statuses(two, *writer, case)
        == case_statuses(one, *colleague, case)
        == everywhere("open")
    )

    pause_replay(d.standby)
    # Started on machine one's page (a form post, then the redirect's page)...
    form = {"to": "in_progress", "note": "开始整改"}
    status, _headers, body = one.request(
        "POST", f"/cases/{case['id']}/transition/", session=writer[0], form=form
    )
    assert status == 302, body[:500]
    assert (status_on(d.primary, case), status_on(d.standby, case)) == ("in_progress", "open")
    # ... read back at once on machine two, on the case's page and in the list, by the session
    # and by the API token: the writer's reads go to the primary while the replica lags.
    assert case_statuses(two, *writer, case) == everywhere("in_progress")
    # Who did not write reads the standby, which has not replayed the move.
    assert case_statuses(two, *colleague, case) == everywhere("open")
    assert case_statuses(one, *colleague, case) == everywhere("open")
    status, _headers, body = one.request(
        "GET", f"/api/v1/cases/{case['id']}/", token=d.tokens["api_reader"]
    )
    assert (status, json.loads(body)["status"]) == (200, "open")

    # Submitted through the API on machine two, read on machine one's pages.
    status, _headers, body = two.request(
        "POST", f"/api/v1/cases/{case['id']}/transitions/", token=writer[1],
        json_body={"to": "submitted", "note": "整改完成，报请验收"},
    )  # fmt: skip
    assert status == 200, body[:500]
    assert case_statuses(one, *writer, case) == everywhere("submitted")
    assert case_statuses(one, *colleague, case) == everywhere("open")
    assert status_on(d.standby, case) == "open"

    resume_replay(d.standby)
    wait_caught_up(d.primary, d.standby)
    assert case_statuses(one, *colleague, case) == everywhere("submitted")
    assert case_statuses(two, *writer, case) == everywhere("submitted")


def test_once_the_replica_has_caught_up_the_writer_reads_it_again(deployment):
    d = deployment
    one, two = d.web
    supervisor, colleague = d.tokens["supervisor"], d.tokens["supervisor2"]
    assert close_by_api(one, supervisor, d.cases["submitted"][2]) == 200
    nudge(d.primary)
    wait_caught_up(d.primary, d.standby)
    before = stats(two, supervisor)

    pause_replay(d.standby)
    # Someone else's write, which the paused replica does not have: the supervisor, whose
    # own writes the replica has, reads the replica again, and does not see it yet.
    assert close_by_api(two, colleague, d.cases["submitted"][3]) == 200
    assert stats(one, colleague) == (before[0] + 1, before[1])
    assert stats(one, supervisor) == before
    assert page_figure(two, d.sessions["supervisor"]) == before


def test_a_task_run_for_a_user_reads_what_it_and_the_users_requests_wrote(deployment):
    d = deployment
    probe, supervisor, colleague = d.probe, d.users["supervisor"], d.users["supervisor2"]
    case = d.cases["open"][0]
    pause_replay(d.standby)
    # A task run for supervisor2 exempts a case (a write on the primary, in acting_for).
    assert probe("transition", actor=colleague, case=case["id"], to="exempted") == {
        "status": "exempted"
    }
    assert probe("status", case=case["id"], scope="replica") == {"status": "open"}
    on_primary = probe("figures", user=colleague, scope="primary")
    assert on_primary["statements"]["replica"] == 0
    # The next task run for supervisor2 reads the primary: one question to the replica (how
    # far has it replayed?), every figure from the primary.
    mine = probe("figures", user=colleague, scope="actor")
    assert mine["total"] == on_primary["total"]
    assert mine["statements"]["replica"] == 1 and mine["statements"]["default"] > 0
    # Run for the supervisor, who wrote nothing since the replica last caught up: the
    # replica's figures, without the exemption.
    theirs = probe("figures", user=supervisor, scope="actor")
    assert theirs["statements"]["default"] == 0, theirs["sql"]
    assert theirs["total"]["done"] == on_primary["total"]["done"] - 1
    # Over HTTP too: supervisor2's own requests read the primary, the API reader the replica.
    one, _two = d.web
    assert stats(one, d.tokens["supervisor2"])[0] == on_primary["total"]["done"]
    assert stats(one, d.tokens["api_reader"])[0] == on_primary["total"]["done"] - 1


# --- Figures agree once caught up ---------------------------------------------------------


def test_the_replicas_figures_equal_the_primarys_once_caught_up(deployment):
    d = deployment
    one, two = d.web
    inspector, supervisor = d.tokens["inspector_b"], d.tokens["supervisor2"]
    pause_replay(d.standby)
    # A batch of moves through the API, of every kind the figures count.
    moves = [
        (inspector, d.cases["open"][1], "in_progress"),
        (inspector, d.cases["in_progress"][1], "submitted"),
        (supervisor, d.cases["open"][3], "exempted"),
        (inspector, d.cases["open"][1], "submitted"),
        (supervisor, d.cases["open"][1], "completed"),
    ]
    for token, case, to in moves:
        status, _headers, body = two.request(
            "POST", f"/api/v1/cases/{case['id']}/transitions/", token=token,
            json_body={"to": to, "note": "批量办理"},
        )  # fmt: skip
        assert status == 200, body[:500]
    reader = d.users["api_reader"]
    stale = d.probe("figures", user=reader, scope="replica")
    primary = d.probe("figures", user=reader, scope="primary")
    assert stale["total"] != primary["total"]  # the comparison below can fail

    resume_replay(d.standby)
    wait_caught_up(d.primary, d.standby)
    for user in (reader, d.users["supervisor"], d.users["inspector_b"]):
        on_replica = d.probe("figures", user=user, scope="replica")
        on_primary = d.probe("figures", user=user, scope="primary")
        assert on_replica["statements"]["default"] == 0 < on_replica["statements"]["replica"]
        assert on_primary["statements"]["replica"] == 0 < on_primary["statements"]["default"]
        assert on_replica["rows"] == on_primary["rows"]
        assert on_replica["total"] == on_primary["total"]
    # And the API reader's endpoint, served from the replica, says the same.
    status, _headers, body = one.request("GET", STATS, token=d.tokens["api_reader"])
    assert status == 200
    answer = json.loads(body)
    assert answer["total"] == primary["total"] and answer["rows"] == primary["rows"]


# --- The primary restarts -----------------------------------------------------------------


def test_replica_reads_answer_while_the_primary_restarts_and_everything_after(deployment):
    d = deployment
    one, two = d.web
    reader, supervisor = d.tokens["api_reader"], d.tokens["supervisor"]
    figures_before = d.probe("figures", user=d.users["api_reader"], scope="replica")
    before = stats(two, reader)
    assert page_figure(one, d.sessions["supervisor2"]) == before

    # Readers keep asking while the primary goes down and comes back.
    answers: list[int | str] = []
    stop = threading.Event()

    def keep_reading() -> None:
        while not stop.is_set():
            for server in d.web:
                try:
                    answers.append(server.request("GET", STATS, token=reader)[0])
                except OSError as error:
                    answers.append(type(error).__name__)
            time.sleep(0.05)

    thread = threading.Thread(target=keep_reading, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        d.primary.stop("fast")
        assert not d.primary.running()
        # A worker's replica reads answer from the standby: the same figures as before.
        during = d.probe("figures", user=d.users["api_reader"], scope="replica")
        assert "error" not in during, during
        assert during["rows"] == figures_before["rows"]
        assert during["total"] == figures_before["total"]
        assert during["statements"]["default"] == 0
        assert "error" in d.probe("figures", user=d.users["api_reader"], scope="primary")
        assert d.standby.query("SELECT pg_is_in_recovery()") is True
        # Over HTTP the session, the user and the token are read on the primary first: a
        # clean 503 with Retry-After, the API's error shape under /api/, never a 500.
        status, headers, body = two.request("GET", STATS, token=reader)
        assert (status, json.loads(body)["code"]) == (503, "unavailable")
        assert int(headers["Retry-After"]) > 0
        status, _headers, body = one.request("GET", "/dashboard/", session=d.sessions["supervisor"])
        assert status == 503 and "服务暂时不可用" in body.decode()
        assert one.request("GET", "/healthz")[0] == 503
        time.sleep(0.3)
        d.primary.start()
        # Back: the same processes answer at once, on new connections.
        assert stats(two, reader) == before
        assert page_figure(one, d.sessions["supervisor2"]) == before
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert set(answers) <= {200, 503}, answers
    assert 503 in answers and answers[-1] == 200, answers

    # Writes work again, from a page and from a worker, and the standby streams them again.
    status, _headers, body = one.request(
        "POST", f"/api/v1/cases/{d.cases['open'][2]['id']}/transitions/", token=supervisor,
        json_body={"to": "exempted", "note": "重启后办理"},
    )  # fmt: skip
    assert status == 200, body[:500]
    moved = d.probe(
        "transition", actor=d.users["inspector_a"], case=d.cases["in_progress"][0]["id"],
        to="submitted",
    )  # fmt: skip
    assert moved == {"status": "submitted"}
    wait_caught_up(d.primary, d.standby)
    assert stats(two, reader) == (before[0] + 1, before[1])
    assert d.probe("status", case=d.cases["in_progress"][0]["id"], scope="replica") == moved
    for server in d.web:
        assert server.process.poll() is None
        assert sum("Booting worker" in line for line in server.log_lines()) == 1  # no restart
        logs = server.json_logs()
        assert not [entry for entry in logs if entry.get("status") == 500 or "exc_info" in entry]
