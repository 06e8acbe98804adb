"""Two commission supervisors deciding one re-check at once: one decision, one reopen."""

from __future__ import annotations

import pytest
from django.db import connection

from cases.errors import Conflict
from cases.models import CaseEvent
from lookback import services
from tests.reminders.test_concurrency import at_once

from .conftest import start

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def test_two_decisions_at_once_reopen_the_case_once(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()

    def decide() -> str:
        try:
            services.recheck_decide(
                actor=world.supervisor, task_id=task.pk, outcome="false", finding="同时认定"
            )
        except Conflict:
            return "conflict"
        return "decided"

    assert sorted(at_once(decide, threads=4)) == ["conflict", "conflict", "conflict", "decided"]
    reopens = CaseEvent.objects.filter(case_id=task.case_id, from_status="completed")
    assert reopens.count() == 1
