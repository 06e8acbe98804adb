"""Every case write that may be back-dated (`at`, as loaders of past ledgers give) keeps the
case's order: an `at` before the case's last change is refused with the one message, and
nothing of that write is stored; at or after it, the same write goes through."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cases import checklist, services
from cases.errors import InvalidInput
from cases.models import Case, CaseEvent, CheckPoint, Evidence
from reminders.models import Reminder
from tests.factories import World, days

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
OUT_OF_ORDER = "记录时间早于该问题的最近一次变更，不能补录在其之前。"

Write = Callable[[World, Case, datetime], Any]

WRITES: dict[str, Write] = {
    "transition": lambda w, case, at: services.case_transition(
        actor=w.inspector_a, case_id=case.pk, to="in_progress", at=at
    ),
    "extend deadline": lambda w, case, at: services.case_extend_deadline(
        actor=w.supervisor, case_id=case.pk, deadline=days(60), reason="延期", at=at
    ),
    "assign": lambda w, case, at: services.case_assign(
        actor=w.supervisor, case_id=case.pk, owner=w.inspector_a, at=at
    ),
    "rectification": lambda w, case, at: services.case_update_rectification(
        actor=w.inspector_a, case_id=case.pk, measures="补录的措施", at=at
    ),
    "details": lambda w, case, at: services.case_update_details(
        actor=w.supervisor, case_id=case.pk, title="补录的标题", at=at
    ),
    "checkpoint": lambda w, case, at: checklist.checkpoint_add(
        actor=w.supervisor, case_id=case.pk, text="补录的要点", at=at
    ),
    "follow-up": lambda w, case, at: services.case_follow_up(
        actor=w.supervisor, case_id=case.pk, note="补录的督办", at=at
    ),
    "evidence": lambda w, case, at: services.evidence_add(
        actor=w.inspector_a,
        case_id=case.pk,
        upload=SimpleUploadedFile("报告.pdf", PDF, content_type="application/pdf"),
        at=at,
    ),
}


def _stored(case: Case) -> tuple:
    """Everything a case write may store."""
    return (
        Case.objects.filter(pk=case.pk).values().get(),
        CaseEvent.objects.filter(case=case).count(),
        CheckPoint.objects.filter(case=case).count(),
        Evidence.objects.filter(case=case).count(),
        Reminder.objects.filter(case=case).count(),
    )


@pytest.fixture
def problem(world: World) -> Case:
    """A problem whose last change (an item added) is later than its last history row: only
    the in-order guard, not the history's own order, stands between a write and the gap."""
    now = timezone.now()
    problem = world.case(at=now - timedelta(days=3))
    world.case(parent=problem, at=now - timedelta(days=1))
    problem.refresh_from_db()
    last_history = CaseEvent.objects.filter(case=problem).latest("seq").created_at
    assert last_history < now - timedelta(days=2) < problem.updated_at
    return problem


@pytest.mark.parametrize("write", WRITES)
def test_it_refuses_a_write_dated_before_the_cases_last_change(
    world: World, problem: Case, write: str
) -> None:
    before = _stored(problem)
    with pytest.raises(InvalidInput) as refused:
        WRITES[write](world, problem, timezone.now() - timedelta(days=2))
    assert refused.value.message == OUT_OF_ORDER
    assert _stored(problem) == before


@pytest.mark.parametrize("write", WRITES)
def test_it_takes_the_same_write_dated_at_the_cases_last_change(
    world: World, problem: Case, write: str
) -> None:
    history = CaseEvent.objects.filter(case=problem).count()
    WRITES[write](world, problem, problem.updated_at)
    assert CaseEvent.objects.filter(case=problem).count() > history
