"""The tracker's side of the streaming-replica tests, run in a process of its own against the
private primary and standby (DATABASE_URL, DATABASE_REPLICA_URL):

    python -m tests.replica.app setup   migrate, build the test world and its cases through
                                        the services, give API tokens and sessions; prints
                                        what the test needs as one JSON object
    python -m tests.replica.app probe   a long-lived process, as a Celery worker is: reads one
                                        JSON command a line, answers one JSON line (see PROBE)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections  # noqa: E402
from django.test import Client  # noqa: E402

from cases import services  # noqa: E402
from cases.completion import Selection, completion_report  # noqa: E402
from cases.models import Case, User  # noqa: E402
from cases.workflow import Role  # noqa: E402
from lookback.figures import add_to_rows  # noqa: E402
from tests.factories import api_key, build_world, days, drive_to, make_user  # noqa: E402
from tracker.db_router import REPLICA_DB_ALIAS, acting_for, read_from_replica  # noqa: E402

# The cases the setup makes, by status: (unit, deadline in days from today).
CASES = {
    "completed": [("a", -20), ("b", -5)],
    "submitted": [("a", -3), ("a", 10), ("b", 4), ("b", 20)],
    "in_progress": [("a", 2), ("b", -1)],
    "open": [("a", 30), ("b", 15), ("a", -2), ("b", 40), ("b", 25)],
}


def setup() -> dict[str, Any]:
    # The accounts' passwords are never checked here (tokens and sessions are made directly):
    # a fast hash keeps the setup short.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", interactive=False, verbosity=0)
    world = build_world()
    # A second supervisor of the same commission: the same figures, none of the writes.
    colleague = make_user(world.commission, Role.SUPERVISOR, "supervisor2")
    units = {"a": world.unit_a, "b": world.unit_b}
    cases: dict[str, list[dict[str, Any]]] = {}
    for status, specs in CASES.items():
        for unit, deadline in specs:
            case = drive_to(
                world.case(units[unit], deadline=days(deadline)), status, world.supervisor
            )
            points = list(case.checklist.values_list("pk", flat=True))
            cases.setdefault(status, []).append({"id": case.pk, "points": points})
    call_command("maintain_tally", verbosity=0)  # the figures from the roll-ups, as beat keeps
    people = {
        "supervisor": world.supervisor,
        "supervisor2": colleague,
        "api_reader": world.api_reader,
        "inspector_a": world.inspector_a,
        "inspector_b": world.inspector_b,
    }
    sessions = {}
    for name in ("supervisor", "supervisor2", "inspector_b"):
        client = Client()
        client.force_login(people[name])
        sessions[name] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {
        "users": {name: user.pk for name, user in people.items()},
        "tokens": {name: api_key(user) for name, user in people.items()},
        "sessions": sessions,
        "cases": cases,
    }


# --- The probe ---------------------------------------------------------------------------

_users: dict[int, User] = {}


def _user(pk: int) -> User:
    """Loaded once, on the primary, and kept: a worker holds its user while it works."""
    if pk not in _users:
        _users[pk] = User.objects.select_related("unit").get(pk=pk)
    return _users[pk]


@contextmanager
def _statements() -> Iterator[dict[str, list[str]]]:
    """The statements run on each database during the block (without connecting, unlike
    CaptureQueriesContext: the primary may be down)."""
    found: dict[str, list[str]] = {DEFAULT_DB_ALIAS: [], REPLICA_DB_ALIAS: []}

    def recorder(alias: str) -> Callable[..., Any]:
        def record(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
            found[alias].append(str(sql))
            return execute(sql, *args)

        return record

    with ExitStack() as stack:
        for alias in found:
            stack.enter_context(connections[alias].execute_wrapper(recorder(alias)))
        yield found


def figures(*, user: int, scope: str) -> dict[str, Any]:
    """The completion report of `user` (the API's `group_by=unit`, its `rows` and `total`) read
    - "primary": outside any replica scope, as every service reads;
    - "replica": inside `read_from_replica()`, for nobody in particular;
    - "actor": inside `read_from_replica()` in a task run for `user` (`acting_for`).
    With the statements each database ran for it."""
    reader = _user(user)
    with ExitStack() as stack:
        statements = stack.enter_context(_statements())
        if scope == "actor":
            stack.enter_context(acting_for(reader.pk))
        if scope in ("actor", "replica"):
            stack.enter_context(read_from_replica())
        # As GET /api/v1/stats/completion/?group_by=unit computes its rectification ledgers.
        cases = Selection(reader, restricted=False)
        rows, total, _counts = completion_report(cases, group_by="unit", level="problem")
        add_to_rows(reader, cases, rows, total, "unit", as_of=None)
    return {
        "rows": [row.as_dict() for row in rows],
        "total": total.as_dict(),
        "statements": {alias: len(sqls) for alias, sqls in statements.items()},
        "sql": statements,
    }


def transition(*, actor: int, case: int, to: str) -> dict[str, Any]:
    """A workflow move made in a task run for `actor` (as a background import's are)."""
    user = _user(actor)
    with acting_for(user.pk):
        moved = services.case_transition(actor=user, case_id=case, to=to, note="任务中办理")
    return {"status": moved.status}


def status(*, case: int, scope: str) -> dict[str, Any]:
    with ExitStack() as stack:
        if scope == "replica":
            stack.enter_context(read_from_replica())
        return {"status": Case.objects.values_list("status", flat=True).get(pk=case)}


PROBE: dict[str, Callable[..., dict[str, Any]]] = {
    "figures": figures,
    "transition": transition,
    "status": status,
}


def probe() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        # What Celery does around each task: a connection broken meanwhile is replaced.
        close_old_connections()
        try:
            answer = PROBE[command.pop("do")](**command)
        except Exception as error:
            answer = {"error": f"{type(error).__name__}: {error}".strip()}
        print(json.dumps(answer, default=str), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["setup"]:
        print(json.dumps(setup()))
    elif sys.argv[1:] == ["probe"]:
        probe()
    else:
        sys.exit(__doc__)
