"""A GET writes nothing: every page and API operation answered to GET (tests/access_probes.py,
the access sweep's own list), as every role, on every object relation, leaves PostgreSQL's
row counters where they were and publishes no Celery message, nor schedules one for commit.

Measured by the database itself: `pg_stat_xact_user_tables` counts the rows this transaction
inserted, updated and deleted in every table (a rolled-back savepoint's included), so a write
through raw SQL, a trigger or a table no model names is seen as well as the ORM's.

Each request is the first of its kind: the cache is emptied and the database restored before
it (a view that writes "only once" would otherwise hide behind the one before it), on today,
on the next day (a new day's first visitor) and after TRACKER_DUE_SOON_DAYS changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from celery.signals import before_task_publish
from django.core.cache import cache
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from tests import test_access_sweep as access_sweep
from tests.access_probes import API_PROBES, ROLES, WEB_PROBES, Probe
from tests.test_access_sweep import Scene, _close, client_for, targets

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# The access sweep's scene, built once for this module, with its settings (fixtures by name).
scene = access_sweep.scene
sweep_root = access_sweep.sweep_root
_sweep_settings = access_sweep._sweep_settings

# Tables a GET may write, and why. Nothing else.
ALLOWED_TABLES = {
    # The session: the idle-timeout middleware stamps each request (tracker/session_policy.py),
    # and a login page may start a session.
    "django_session": "the session's last-seen time",
    # Login records (django-axes): attempts and access logs belong to logins, not to reads.
    "axes_accessattempt": "login records",
    "axes_accesslog": "login records",
    "axes_accessfailurelog": "login records",
}

# The audit log's deliberate writes on a GET (audit/services.py): who opened a restricted
# case or its history, who downloaded evidence or exported the ledger, and every refused
# access (403/404) of a logged-in user. Allowed only as one insert into the audit table, and
# only for these answers: reading a clue is what a commission must be able to account for.
AUDITED_GETS = {
    "cases:detail": "a restricted case shown (record_case_view)",
    "cases:assign-form": "a restricted case's unit and owner shown (record_case_view)",
    "cases:evidence-download": "evidence downloaded (record_evidence_download)",
    ("GET", "/api/v1/cases/{id}/"): "a restricted case shown (record_case_view)",
    ("GET", "/api/v1/cases/{id}/history/"): "a restricted case's history shown",
    ("GET", "/api/v1/cases/export/"): "the ledger exported in the request (_record_export)",
    (
        "GET",
        "/api/v1/cases/{case_id}/evidence/{evidence_id}/download/",
    ): "evidence downloaded (record_evidence_download)",
    ("GET", "/api/v1/cases/{case_id}/follow-ups/"): "a restricted case's follow-ups shown",
}
AUDIT_TABLE = "audit_auditentry"
REFUSED = {403, 404}


def _tomorrow() -> AbstractContextManager[Any]:
    return time_machine.travel(timezone.now() + timedelta(days=1), tick=False)


def _today() -> AbstractContextManager[Any]:
    return nullcontext()


def _due_soon_changed() -> AbstractContextManager[Any]:
    from django.conf import settings

    return override_settings(DUE_SOON_DAYS=settings.DUE_SOON_DAYS + 3)


# "today": the first GET after a start (an empty cache, figures as the writes left them).
MOMENTS: dict[str, Callable[[], AbstractContextManager[Any]]] = {
    "today": _today,
    "tomorrow": _tomorrow,
    "due_soon_changed": _due_soon_changed,
}

GET_PROBES: dict[Any, Probe] = {
    key: probe for key, probe in [*WEB_PROBES.items(), *API_PROBES.items()] if probe.method == "get"
}


def row_counters() -> dict[str, tuple[int, int, int]]:
    """(inserted, updated, deleted) rows of each table in this transaction so far."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables"
        )
        return {name: (ins, upd, dele) for name, ins, upd, dele in cursor.fetchall()}


def written(before: dict[str, tuple[int, ...]], after: dict[str, tuple[int, ...]]) -> dict:
    """Table → (inserted, updated, deleted) between two readings, for tables written."""
    out = {}
    for table, counts in after.items():
        delta = tuple(a - b for a, b in zip(counts, before.get(table, (0, 0, 0)), strict=True))
        if any(delta):
            out[table] = delta
    return out


def forbidden(key: Any, status: int, writes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """The writes no allow-list explains."""
    out = {}
    for table, (inserted, updated, deleted) in writes.items():
        if table in ALLOWED_TABLES:
            continue
        audited = key in AUDITED_GETS or status in REFUSED
        if table == AUDIT_TABLE and audited and (updated, deleted) == (0, 0) and inserted == 1:
            continue
        out[table] = (inserted, updated, deleted)
    return out


@pytest.fixture
def published() -> Iterator[list[str]]:
    """The name of every task published while the test runs."""
    sent: list[str] = []

    def count(sender: Any = None, **_kwargs: Any) -> None:
        sent.append(str(sender))

    before_task_publish.connect(count, weak=False)
    yield sent
    before_task_publish.disconnect(count)


def get_sweep(
    scene: Scene, role: str, published: list[str], on_commit: Any, *, every_relation: bool
) -> list[str]:
    problems: list[str] = []
    client = client_for(scene, role)  # logs in now: a session that outlived a night is gone
    at = timezone.localdate()
    for key, probe in GET_PROBES.items():
        for target in targets(scene, role, probe)[: None if every_relation else 1]:
            url = probe.path.format(**target.ids)
            savepoint = transaction.savepoint_create()
            try:
                cache.clear()  # as after a start: nothing remembered from the request before
                del published[:]
                before = row_counters()
                # What the view leaves for commit (a task sent then, say) counts too.
                with on_commit() as callbacks:
                    response = client.get(url)
                    _close(response)
                scheduled = len(callbacks)
                bad = forbidden(key, response.status_code, written(before, row_counters()))
            finally:
                transaction.savepoint_rollback(savepoint)
            label = f"GET {url} ({key}) as {role} on {target.relation} on {at}"
            if bad:
                problems.append(f"{label}: wrote (ins, upd, del) {bad}")
            if published:
                problems.append(f"{label}: published {published}")
            if scheduled:
                problems.append(f"{label}: scheduled {scheduled} callback(s) for commit")
    return problems


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("role", ROLES)
def test_no_get_writes_a_row_or_sends_a_message(
    scene, published, django_capture_on_commit_callbacks, role, moment
):
    # Today every object relation; after a day or a setting changed the first object of each
    # URL (what a first visitor sets off does not depend on which case is asked for).
    with MOMENTS[moment]():
        problems = get_sweep(
            scene,
            role,
            published,
            django_capture_on_commit_callbacks,
            every_relation=moment == "today",
        )
    assert not problems, "\n".join(problems)


def test_the_counters_see_a_write_in_a_request(scene):
    """The measure itself: a write in a GET's transaction shows in the counters."""
    from reminders.models import Notification

    savepoint = transaction.savepoint_create()
    try:
        before = row_counters()
        Notification.objects.filter(pk=scene.notifications["inspector"].pk).update(title="x")
        assert written(before, row_counters()) == {"reminders_notification": (0, 1, 0)}
    finally:
        transaction.savepoint_rollback(savepoint)
