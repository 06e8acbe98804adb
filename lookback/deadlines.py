"""The re-check tasks' deadlines, for the reminders' one sweep (reminders.task_deadlines):
the named checker is reminded before the deadline and when it is past, once per window."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from cases.workflow import Status
from reminders.models import Reminder
from reminders.rules import DUE_SOON, ESCALATION, OVERDUE
from reminders.task_deadlines import TaskDeadline

from .models import RecheckTask

PREFIX = "recheck"


class Rechecks:
    prefix = PREFIX
    # The checker is a commission's supervisor already: an escalation is one more overdue.
    kinds: Mapping[str, str] = {
        DUE_SOON: Reminder.Kind.RECHECK_DUE,
        OVERDUE: Reminder.Kind.RECHECK_OVERDUE,
        ESCALATION: Reminder.Kind.RECHECK_OVERDUE,
    }

    def due(self, before: date) -> Iterable[TaskDeadline]:
        tasks = (
            RecheckTask.objects.filter(
                outcome=RecheckTask.Outcome.PENDING,
                deadline__lt=before,
                case__status=Status.COMPLETED,  # reopened since: nothing left to re-check
            )
            .select_related("case__responsible_unit", "case__inspection", "checker__unit")
            .order_by("deadline", "id")
        )
        for task in tasks.iterator(chunk_size=500):
            people = [task.checker] if task.checker.is_active else []
            yield TaskDeadline(f"{PREFIX}-{task.pk}", task.case, task.deadline, people)

    def open_keys(self, keys: set[str]) -> set[str]:
        ids = {int(key.split("-", 1)[1]) for key in keys if key.split("-", 1)[1].isdigit()}
        open_ids = RecheckTask.objects.filter(
            pk__in=ids, outcome=RecheckTask.Outcome.PENDING
        ).values_list("pk", flat=True)
        return {f"{PREFIX}-{pk}" for pk in open_ids}


RECHECKS = Rechecks()
