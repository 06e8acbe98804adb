"""The database itself keeps the case history append-only (PostgreSQL trigger)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from cases import services
from cases.models import CaseEvent
from reminders.models import Reminder
from tests.factories import World

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the append-only trigger exists on PostgreSQL only",
    ),
]


@pytest.fixture
def event(world: World) -> CaseEvent:
    case = world.case()
    services.case_transition(
        actor=world.inspector_a, case_id=case.pk, to="escalated", note="组卷上报"
    )
    event = CaseEvent.objects.get(case=case, kind="transition")
    # Its notifications point at it (reminders_reminder.event_id): the trigger, not that
    # foreign key, is what must refuse its deletion.
    assert Reminder.objects.filter(event=event).exists()
    return event


def _raw(sql: str, *params: Any) -> Callable[[CaseEvent], Any]:
    def run(event: CaseEvent) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql.format(table=CaseEvent._meta.db_table), [*params, event.pk])

    return run


def _orm_save(event: CaseEvent) -> None:
    event.note = "改过的说明"
    event.save()


REFUSED: dict[str, Callable[[CaseEvent], Any]] = {
    "sql_update": _raw("UPDATE {table} SET note = %s WHERE id = %s", "改过的说明"),
    "sql_update_status": _raw("UPDATE {table} SET to_status = %s WHERE id = %s", "completed"),
    "sql_delete": _raw("DELETE FROM {table} WHERE id = %s"),
    "sql_delete_all_of_case": lambda e: _raw("DELETE FROM {table} WHERE case_id = %s")(
        CaseEvent(pk=e.case_id)
    ),
    "orm_queryset_update": lambda e: CaseEvent.objects.filter(pk=e.pk).update(note="改过的说明"),
    "orm_queryset_delete": lambda e: CaseEvent.objects.filter(pk=e.pk).delete(),
    "orm_instance_save": _orm_save,
    "orm_instance_delete": lambda e: e.delete(),
    "orm_delete_everything": lambda e: CaseEvent.objects.all().delete(),
}


@pytest.mark.parametrize("attempt", list(REFUSED))
def test_it_refuses_to_change_or_delete_history(event: CaseEvent, attempt: str) -> None:
    before = list(CaseEvent.objects.order_by("pk").values())
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
        REFUSED[attempt](event)
    assert "append-only" in str(excinfo.value)
    # The test's own transaction is still usable and the history is as it was.
    assert list(CaseEvent.objects.order_by("pk").values()) == before


def test_it_still_appends_history(event: CaseEvent, world: World) -> None:
    count = CaseEvent.objects.filter(case_id=event.case_id).count()
    services.case_transition(actor=world.inspector_a, case_id=event.case_id, to="in_progress")
    assert CaseEvent.objects.filter(case_id=event.case_id).count() == count + 1
