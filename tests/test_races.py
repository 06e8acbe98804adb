"""Racing writers on one case, on PostgreSQL, over real HTTP.

Fifty clients, each with its own connection (the live server answers every request in its own
thread, with its own database connection), released together by a barrier. Whatever the race,
nothing is lost: one winner per move and 409 for the others (never a 5xx), the history holds
exactly the writes that were answered with success, in the order they happened, and it agrees
with the final state of the case.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import requests
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection
from django.test.testcases import LiveServerThread

from cases.models import Case, CaseEvent
from cases.workflow import Role
from tests.factories import World, api_key, drive_to, make_user

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]

WRITERS = 50
# Editors who retry until their edit is in: each round lets one through, so the requests grow
# with the square of their number; 20 keep the run short and still race hard.
RETRYING_EDITORS = 20


class Api:
    """A client for the live server, authenticated with a real token (one HTTP session per
    thread: sessions are not thread-safe)."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/") + "/api/v1"
        self.headers = {"Authorization": f"Token {token}", "Accept-Language": "zh-hans"}
        self.local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers.update(self.headers)
        return self.local.session

    def get(self, path: str) -> requests.Response:
        return self._session().get(self.base + path, timeout=60)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self._session().post(self.base + path, json=body, timeout=60)

    def patch(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self._session().patch(self.base + path, json=body, timeout=60)


class _Server(ThreadedWSGIServer):
    # Fifty clients connect in the same instant: Django's development server queues only 10
    # (production servers queue thousands) and the kernel would reset the rest.
    request_queue_size = 256


class _ServerThread(LiveServerThread):
    server_class = _Server


@pytest.fixture
def server(transactional_db: None, settings: Any) -> Iterator[str]:
    """A live server like pytest-django's, on a port of its own: every request in its own
    thread with its own database connection, closed when the request ends."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    thread = _ServerThread("127.0.0.1", StaticFilesHandler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


@pytest.fixture
def api(world: World, server: str) -> Api:
    # A supervisor of the responsible unit: makes the unit's moves and returns (cases.rules),
    # never closes its own unit's case.
    return Api(server, api_key(world.dept_supervisor))


def at_once(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run every call in its own thread, all released together; the answers in call order."""
    start = threading.Barrier(len(calls))
    answers: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            start.wait(timeout=30)
            answers[index] = calls[index]()
        except BaseException as error:  # reported below with the others
            answers[index] = error

    pool = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    errors = [a for a in answers if not isinstance(a, requests.Response)]
    assert not errors, f"{len(errors)} calls did not get an answer: {errors[:3]}"
    return answers


def statuses(answers: list[requests.Response]) -> Counter:
    return Counter(answer.status_code for answer in answers)


def assert_losers_get_the_conflict_shape(answers: list[requests.Response]) -> None:
    for answer in answers:
        assert answer.status_code < 500, answer.text[:500]
        if answer.status_code != 200:
            assert answer.status_code == 409, answer.text[:500]
            body = answer.json()
            assert body["status"] == 409 and body["code"] and body["message"], body


def transitions(case: Case) -> list[CaseEvent]:
    return list(case.events.filter(kind="transition").order_by("created_at", "id"))


def assert_history_agrees(case: Case) -> None:
    """The transition rows chain from `open` to the final status, in time order."""
    case.refresh_from_db()
    rows = list(case.events.filter(kind__in=["created", "transition"]).order_by("created_at", "id"))
    assert rows[0].kind == "created" and rows[0].to_status == "open"
    for before, after in itertools.pairwise(rows):
        assert after.from_status == before.to_status, [(r.from_status, r.to_status) for r in rows]
    assert rows[-1].to_status == case.status
    times = [row.created_at for row in case.events.order_by("id")]
    assert times == sorted(times), "history rows are dated in the order they were written"
    assert case.updated_at == max(times)


# --- Status changes -----------------------------------------------------------------------


def test_fifty_identical_status_changes_make_one_move(world: World, api: Api) -> None:
    case = world.case(world.unit_a)
    answers = at_once(
        [lambda: api.post(f"/cases/{case.pk}/transitions/", {"to": "in_progress"})] * WRITERS
    )
    assert statuses(answers) == Counter({200: 1, 409: WRITERS - 1}), statuses(answers)
    assert_losers_get_the_conflict_shape(answers)
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"move_not_allowed"}
    [winner] = [a.json() for a in answers if a.status_code == 200]
    assert winner["status"] == "in_progress"
    [row] = transitions(case)
    assert (row.from_status, row.to_status) == ("open", "in_progress")
    assert_history_agrees(case)
    assert case.status == "in_progress"


def test_fifty_competing_moves_from_one_state_make_exactly_one(world: World, api: Api) -> None:
    # From "in progress" a case may be submitted or escalated; once one of them is made, the
    # other no longer exists (neither state leads to the other).
    case = drive_to(world.case(world.unit_a), "in_progress", world.supervisor)
    targets = ["submitted", "escalated"]
    calls = [
        partial(api.post, f"/cases/{case.pk}/transitions/", {"to": to, "note": f"并发：{to}"})
        for to in itertools.islice(itertools.cycle(targets), WRITERS)
    ]
    answers = at_once(calls)
    assert statuses(answers) == Counter({200: 1, 409: WRITERS - 1}), statuses(answers)
    assert_losers_get_the_conflict_shape(answers)
    [winner] = [a.json() for a in answers if a.status_code == 200]
    rows = transitions(case)
    assert [(r.from_status, r.to_status) for r in rows][-1] == ("in_progress", winner["status"])
    assert len(rows) == 2  # the set-up's start, and the winner
    assert_history_agrees(case)


def test_a_stampede_of_mixed_moves_keeps_history_and_state_in_step(world: World, api: Api) -> None:
    # Moves that can succeed one after another (start, submit, return, escalate, resume…):
    # however they interleave, every success is one history row, in order, and every refusal
    # is a 409 that wrote nothing.
    case = world.case(world.unit_a, checklist=["核查整改报告"])
    point = case.checklist.get().pk
    targets = ["in_progress", "submitted", "escalated", "open"]
    body = {"note": "并发", "confirm": [point]}
    calls = [
        partial(api.post, f"/cases/{case.pk}/transitions/", {**body, "to": to})
        for to in itertools.islice(itertools.cycle(targets), WRITERS)
    ]
    answers = at_once(calls)
    assert_losers_get_the_conflict_shape(answers)
    successes = [a.json() for a in answers if a.status_code == 200]
    assert successes, statuses(answers)
    rows = transitions(case)
    assert len(rows) == len(successes)
    assert Counter(r.to_status for r in rows) == Counter(s["status"] for s in successes)
    assert_history_agrees(case)


# --- Edits --------------------------------------------------------------------------------


@pytest.fixture
def editors(world: World, server: str) -> list[Api]:
    """Supervisors, each with their own token (and throttle budget)."""
    people = [
        make_user(world.commission, Role.SUPERVISOR, f"editor{n:02d}")
        for n in range(RETRYING_EDITORS)
    ]
    return [Api(server, api_key(person)) for person in people]


def rectification_rows(case: Case) -> list[CaseEvent]:
    return list(case.events.filter(kind="rectification").order_by("created_at", "id"))


def assert_edits_chain(case: Case, field: str) -> str:
    """Each edit row starts from the value the previous one left, and the last one is the
    case's value: no write was based on a stale read, none is missing. Returns that value."""
    case.refresh_from_db()
    previous = ""
    for row in rectification_rows(case):
        old, new = row.changes[field]
        assert old == previous, (old, previous)
        previous = new
    assert getattr(case, field) == previous
    return previous


def test_fifty_blind_edits_are_serialised_and_each_recorded(world: World, api: Api) -> None:
    # Without the `updated_at` it read, each edit is applied in turn, in one transaction with
    # its history rows: none is lost from the history, and the case holds the one that came
    # last. (Title and measures: two services, two rows, one lock.)
    case = world.case(world.unit_a)
    calls = [
        (lambda n=n: api.patch(f"/cases/{case.pk}/", {"measures": f"措施{n:02d}",
                                                      "title": f"标题{n:02d}"}))
        for n in range(WRITERS)
    ]  # fmt: skip
    answers = at_once(calls)
    assert statuses(answers) == Counter({200: WRITERS}), statuses(answers)
    rows = rectification_rows(case)
    assert sorted(row.changes["measures"][1] for row in rows) == [
        f"措施{n:02d}" for n in range(WRITERS)
    ]
    last = assert_edits_chain(case, "measures")
    edits = list(case.events.filter(kind="edit").order_by("created_at", "id"))
    assert len(edits) == WRITERS
    assert case.title == edits[-1].changes["title"][1] == "标题" + last.removeprefix("措施")
    assert_history_agrees(case)


def test_the_same_edit_fifty_times_is_written_once(world: World, api: Api) -> None:
    case = world.case(world.unit_a)
    answers = at_once(
        [lambda: api.patch(f"/cases/{case.pk}/", {"progress": "已完成一半"})] * WRITERS
    )
    assert statuses(answers) == Counter({200: WRITERS}), statuses(answers)
    assert {a.json()["progress"] for a in answers} == {"已完成一半"}
    [row] = rectification_rows(case)
    assert row.changes == {"progress": ["", "已完成一半"]}
    assert_history_agrees(case)


def test_fifty_edits_of_the_same_read_make_one_and_refuse_the_rest_as_stale(
    world: World, api: Api
) -> None:
    case = world.case(world.unit_a)
    read = api.get(f"/cases/{case.pk}/").json()["updated_at"]
    calls = [
        (lambda n=n: api.patch(f"/cases/{case.pk}/", {"measures": f"措施{n:02d}",
                                                      "updated_at": read}))
        for n in range(WRITERS)
    ]  # fmt: skip
    answers = at_once(calls)
    assert statuses(answers) == Counter({200: 1, 409: WRITERS - 1}), statuses(answers)
    assert_losers_get_the_conflict_shape(answers)
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["code"] == "stale" and "updated_at" in answer.json()["fields"]
    [winner] = [a.json() for a in answers if a.status_code == 200]
    [row] = rectification_rows(case)
    assert row.changes["measures"] == ["", winner["measures"]]
    assert assert_edits_chain(case, "measures") == winner["measures"]
    assert winner["updated_at"] != read
    assert_history_agrees(case)


def test_read_modify_write_editors_racing_lose_nothing(world: World, editors: list[Api]) -> None:
    # Each editor adds a line of its own to the measures: read, append, write back with the
    # `updated_at` it read; on 409 read again and retry. Every line ends up in the case, and
    # the history has one row per line, each building on the one before.
    case = world.case(world.unit_a)
    refused: list[requests.Response] = []

    def append(editor: Api, line: str) -> requests.Response:
        for attempt in range(200):
            read = editor.get(f"/cases/{case.pk}/").json()
            lines = [*filter(None, read["measures"].split("\n")), line]
            answer = editor.patch(
                f"/cases/{case.pk}/",
                {"measures": "\n".join(lines), "updated_at": read["updated_at"]},
            )
            if answer.status_code != 409:
                return answer
            refused.append(answer)
            time.sleep(random.uniform(0, 0.01 * 2 ** min(attempt, 6)))
        raise AssertionError(f"{line}: still refused after 200 attempts")

    calls = [
        (lambda editor=editor, n=n: append(editor, f"第{n:02d}条措施"))
        for n, editor in enumerate(editors)
    ]
    answers = at_once(calls)
    assert statuses(answers) == Counter({200: RETRYING_EDITORS}), statuses(answers)
    assert refused, "the editors did race"
    assert_losers_get_the_conflict_shape(refused)
    assert {answer.json()["code"] for answer in refused} == {"stale"}
    final = assert_edits_chain(case, "measures")
    assert sorted(final.split("\n")) == [f"第{n:02d}条措施" for n in range(RETRYING_EDITORS)]
    assert len(rectification_rows(case)) == RETRYING_EDITORS
    assert_history_agrees(case)


def test_an_edit_with_the_current_updated_at_goes_through_and_a_stale_one_writes_nothing(
    world: World, api: Api
) -> None:
    case = world.case(world.unit_a)
    first = api.get(f"/cases/{case.pk}/").json()["updated_at"]
    answer = api.patch(f"/cases/{case.pk}/", {"progress": "一", "updated_at": first})
    assert answer.status_code == 200, answer.text
    second = answer.json()["updated_at"]
    stale = api.patch(f"/cases/{case.pk}/", {"title": "改标题", "progress": "二",
                                              "updated_at": first})  # fmt: skip
    assert stale.status_code == 409 and stale.json()["code"] == "stale", stale.text
    case.refresh_from_db()
    assert (case.progress, case.title) != ("二", "改标题")
    assert api.get(f"/cases/{case.pk}/").json()["updated_at"] == second
    # Only the token is not an edit.
    empty = api.patch(f"/cases/{case.pk}/", {"updated_at": second})
    assert empty.status_code == 400, empty.text


# --- API tokens ---------------------------------------------------------------------------------


def _issue_at_once(user: Any, names: list[str], *, replace: bool = False) -> list[Any]:
    """tokens.token_issue in one thread per name, each on its own database connection,
    released together; the answers (an IssuedToken or the exception) in order."""
    from django.db import connection as thread_connection

    from cases import tokens

    start = threading.Barrier(len(names))
    answers: list[Any] = [None] * len(names)

    def run(index: int) -> None:
        try:
            start.wait(timeout=30)
            answers[index] = tokens.token_issue(user=user, name=names[index], replace=replace)
        except BaseException as error:  # a refusal is an answer too
            answers[index] = error
        finally:
            thread_connection.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(len(names))]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    return answers


def test_twenty_racing_requests_for_one_name_make_one_token(world: World) -> None:
    from cases.errors import Conflict
    from cases.models import ApiToken

    answers = _issue_at_once(world.supervisor, ["大屏"] * 20)
    made = [a for a in answers if not isinstance(a, BaseException)]
    assert len(made) == 1, answers
    assert all(isinstance(a, Conflict) for a in answers if a not in made), answers
    assert ApiToken.objects.filter(user=world.supervisor).count() == 1


def test_racing_requests_for_new_names_stop_at_the_cap(world: World, settings: Any) -> None:
    from cases.errors import Conflict
    from cases.models import ApiToken

    settings.API_TOKEN_MAX_PER_USER = 3
    answers = _issue_at_once(world.supervisor, [f"客户端{n}" for n in range(12)])
    made = [a for a in answers if not isinstance(a, BaseException)]
    assert len(made) == 3, answers
    assert all(isinstance(a, Conflict) for a in answers if a not in made), answers
    assert ApiToken.objects.filter(user=world.supervisor, revoked_at=None).count() == 3


def test_racing_logins_at_the_token_endpoint_leave_one_usable_token(
    world: World, server: str
) -> None:
    from django.core.cache import cache

    from cases.models import ApiToken
    from tests.factories import PASSWORD

    cache.clear()  # the token endpoint's throttle counts per address in the cache

    def login() -> requests.Response:
        body = {"username": world.api_reader.username, "password": PASSWORD}
        return requests.post(f"{server}/api/v1/auth/token/", json=body, timeout=60)

    answers = at_once([login] * 10)
    assert statuses(answers) == Counter({200: 10})
    usable = [
        answer.json()["token"]
        for answer in answers
        if Api(server, answer.json()["token"]).get("/cases/").status_code == 200
    ]
    assert len(usable) == 1
    assert ApiToken.objects.filter(user=world.api_reader, revoked_at=None).count() == 1


def test_a_write_that_waited_on_the_lock_reads_the_case_as_the_other_write_left_it(
    world: World, transactional_db: None
) -> None:
    """The lock returns the case's row as a concurrent write left it; its joined rows (owner,
    its unit...) and last history time are read again then, not taken from before the wait."""
    from django.db import transaction

    from cases import selectors, services

    case = world.case(world.unit_a, owner=world.inspector_a)
    other = make_user(world.unit_a, Role.INSPECTOR, "inspector_a2")
    locked = threading.Event()
    seen: dict[str, Any] = {}

    def reassign() -> None:
        try:
            with transaction.atomic():
                services.case_assign(
                    actor=world.supervisor, case_id=case.pk, owner=other, note="调整"
                )
                locked.set()
                time.sleep(1.0)  # the other write waits on the row lock meanwhile
        finally:
            connection.close()

    def read_locked() -> None:
        try:
            locked.wait(5)
            with transaction.atomic():
                got = selectors.case_get_for_update(world.supervisor, case.pk)
                seen.update(
                    owner=(got.owner_id, got.owner.pk if got.owner else None),
                    last=getattr(got, "last_event_at", None),
                    length=got.history_length,
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=reassign), threading.Thread(target=read_locked)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    last = CaseEvent.objects.filter(case_id=case.pk).order_by("-seq").first()
    assert last is not None and last.kind == CaseEvent.Kind.ASSIGNMENT
    assert seen["owner"] == (other.pk, other.pk)
    assert (seen["length"], seen["last"]) == (last.seq, last.created_at)
