"""Deadlines besides a case's own that the one sweep reminds of: e.g. a look-back's re-check
tasks (lookback.deadlines), registered by their app (`register`, from its AppConfig.ready).

Same rule (`rules.reminder_due`), same ledger (a `Reminder` row per case, kind, window,
addressee and channel, inserted ON CONFLICT DO NOTHING: exactly once however many sweeps run),
same digests, leases and senders. A source only says which tasks are due and whether one is
still open; the window names the task and its deadline ("recheck-12/2026-12-07/d1"), so a
task's reminders never clash with its case's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from django.db import transaction

from cases.models import Case, User

from .digest import sweep_step_begin
from .models import Reminder
from .rules import Policy, reminder_due


@dataclass(frozen=True)
class TaskDeadline:
    key: str  # names the task in the reminder's window: "<source prefix>-<id>"
    case: Case  # what the reminder is about (its link)
    deadline: date
    people: list[User]  # who is told: each must also see the case (checked by the sweep)


class DeadlineSource(Protocol):
    prefix: str  # of the task keys: "recheck"

    @property
    def kinds(self) -> Mapping[str, str]:
        """The rule's kind (due_soon, overdue, escalation) → this source's reminder kind."""

    def due(self, before: date) -> Iterable[TaskDeadline]:
        """The open tasks whose deadline is before `before` (due soon, or overdue)."""

    def open_keys(self, keys: set[str]) -> set[str]:
        """Which of `keys` name a task still open (a reminder of a closed one is not sent)."""


_SOURCES: dict[str, DeadlineSource] = {}


def register(source: DeadlineSource) -> None:
    _SOURCES[source.prefix] = source


def task_kinds() -> frozenset[str]:
    return frozenset(kind for source in _SOURCES.values() for kind in source.kinds.values())


def task_window(key: str, window: str) -> str:
    return f"{key}/{window}"


def split_window(window: str) -> tuple[str, str]:
    """("recheck-12", "2026-12-07/d1") of a task's reminder window."""
    key, _sep, rest = window.partition("/")
    return key, rest


def window_deadline(window: str) -> date | None:
    head = split_window(window)[1].partition("/")[0]
    try:
        return date.fromisoformat(head)
    except ValueError:
        return None


def stale_ids(reminders: Iterable[Reminder]) -> set[int]:
    """The ids of those task reminders whose task is no longer open (decided)."""
    rows = [r for r in reminders if r.kind in task_kinds()]
    keys = {split_window(r.window)[0] for r in rows}
    live: set[str] = set()
    for prefix, source in _SOURCES.items():
        live |= source.open_keys({k for k in keys if k.startswith(f"{prefix}-")})
    return {r.pk for r in rows if split_window(r.window)[0] not in live}


def still_due(reminders: list[Reminder], stale: Callable[[Reminder], bool]) -> list[Reminder]:
    """The reminders of a message still to send: a task's while its task is open (its case is
    closed, as a re-checked case is), any other unless `stale` (the case sweep's rule)."""
    gone = stale_ids(reminders)
    kinds = task_kinds()
    return [r for r in reminders if r.pk not in gone and (r.kind in kinds or not stale(r))]


def sweep_tasks(
    report: Any, run: Any, policy: Policy, days: Any, *, before: date, today: date, at: datetime
) -> None:
    """The reminders of every registered source's due tasks, in one transaction of the sweep's
    run (`sweep_step_begin`: nothing written if the run was taken for dead), counted into the
    sweep's `report`. `before`: the sweep's horizon. Only people who may see the case are told
    (the case sweep's `_who_may_see`, by case id: a case has one open task at a time)."""
    # Here: that module sweeps through this one.
    from .services import _insert, _reminder_rows, _who_may_see

    wanted: list[tuple[TaskDeadline, str, str]] = []
    for source in _SOURCES.values():
        for task in source.due(before):
            unit_days = days.for_unit(task.case.responsible_unit)
            found = reminder_due(task.deadline, today, policy, unit_days)
            if found is not None:
                window = task_window(task.key, found.window)
                wanted.append((task, source.kinds[found.kind], window))
    windows = {window for _task, _kind, window in wanted}
    cases = {task.case.pk for task, _kind, _window in wanted}
    done = set(  # through the reminders' unique key, which leads with the case
        Reminder.objects.filter(case_id__in=cases, window__in=windows).values_list(
            "window", flat=True
        )
    )
    todo = [(task, kind, window) for task, kind, window in wanted if window not in done]
    if not todo:
        report.cases += len(wanted)
        return
    people = _who_may_see({task.case.pk: task.people for task, _k, _w in todo})
    rows = []
    for task, kind, window in todo:
        # The named people only: no group bot, a unit is not told of a spot check.
        case, addressees = task.case, people[task.case.pk]
        rows += _reminder_rows(
            case, kind=kind, window=window, people=addressees, units=[], at=at, sweep=run
        )
    with transaction.atomic():
        if not sweep_step_begin(run):
            return
        _insert(rows)
    report.cases += len(wanted)
    report.reminders += len(rows)
