"""How a case's life is drawn: the status it ends in, the statuses it went through, when, and
the history rows that record it (moves, rectification, deadline changes, checklist).

The rows follow the services' rules (`cases.services`, `cases.workflow`, `cases.rules`): only
moves of `MOVES`, made by the role they belong to, the unit's moves (start, submit, escalate,
resume) by the responsible unit and the others (verifying and closing, returning, exempting,
reopening) by the supervising commission, so that no one closes what they submitted or what
their unit is responsible for (separation of duties); a move that verifies (closing) confirms
the checklist first, at the same moment; a move out of a done state (reopening) resets a
confirmed checklist first; rectification and deadline changes only while the case is not done.
Everything happens strictly after the case was created and no later than a given limit.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cases.workflow import DONE_STATES, MOVES, Role, Status

from .clock import DAY
from .vocabulary import DEADLINE_REASONS, MEASURES, NOTES, PROGRESS

OPEN = Status.OPEN.value
IN_PROGRESS = Status.IN_PROGRESS.value
SUBMITTED = Status.SUBMITTED.value
COMPLETED = Status.COMPLETED.value
ESCALATED = Status.ESCALATED.value
EXEMPTED = Status.EXEMPTED.value
DONE = frozenset(s.value for s in DONE_STATES)

# Who makes a row: the supervisor who registered the case, for the supervising commission, or
# the responsible unit (its owner, if any). `synthetic.writer` turns them into actors.
SUPERVISOR, INSPECTOR = "supervisor", "inspector"
# What `cases.services.case_transition` notes when a reopening resets the checklist.
CHECKLIST_RESET_NOTE = "重新整改，验收要点待重新确认。"


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class MoveRow(NamedTuple):
    """A move's row, looked up once: its possible notes, changes (JSON text), who makes it,
    whether it verifies the checklist, whether it goes into or out of a done state."""

    notes: list[str]
    changes: str
    role: str
    verifies: bool
    crosses: bool


MOVE_ROWS = {
    (a.value, b.value): MoveRow(
        NOTES[move.name],
        json_text({"status": [a.value, b.value]}),
        INSPECTOR if Role.INSPECTOR in move.roles else SUPERVISOR,
        move.verifies,
        (a in DONE_STATES) != (b in DONE_STATES),
    )
    for (a, b), move in MOVES.items()
}

# A history row: (kind, from_status, to_status, deadline ordinal | None, was_overdue,
# changes JSON, note, SUPERVISOR | INSPECTOR, offset).
Row = tuple[str, str, str, "int | None", bool, str, str, str, int]

# A story's rows other than moves, in the order of its steps (moves are numbered from 0).
RECTIFICATION, DEADLINE = -1, -2


class Path(NamedTuple):
    """The statuses a case goes through after `open`, with the index of its first done
    status (its length if none) and of its first `in_progress` one."""

    statuses: tuple[str, ...]
    first_done: int
    first_in_progress: int | None


def _path(*statuses: str) -> Path:
    first_done = next((i for i, s in enumerate(statuses) if s in DONE), len(statuses))
    first_ip = next((i for i, s in enumerate(statuses) if s == IN_PROGRESS), None)
    return Path(statuses, first_done, first_ip)


PATHS = {
    path.statuses: path
    for path in (
        _path(),
        _path(ESCALATED, OPEN),
        _path(IN_PROGRESS),
        _path(IN_PROGRESS, SUBMITTED, IN_PROGRESS),
        _path(IN_PROGRESS, ESCALATED, IN_PROGRESS),
        _path(IN_PROGRESS, SUBMITTED),
        _path(IN_PROGRESS, SUBMITTED, IN_PROGRESS, SUBMITTED),
        _path(ESCALATED),
        _path(IN_PROGRESS, ESCALATED),
        _path(IN_PROGRESS, SUBMITTED, IN_PROGRESS, SUBMITTED, COMPLETED),
        _path(IN_PROGRESS, SUBMITTED, COMPLETED, IN_PROGRESS, SUBMITTED, COMPLETED),
        _path(IN_PROGRESS, SUBMITTED, COMPLETED),
        _path(EXEMPTED),
        _path(IN_PROGRESS, EXEMPTED),
        _path(ESCALATED, EXEMPTED),
        _path(IN_PROGRESS, SUBMITTED, EXEMPTED),
    )
}


def pick_status(rng: random.Random, age_days: int, with_items: bool) -> str:
    """Older cases are mostly done; young ones mostly open or under way."""
    p_done = min(0.92, 0.05 + age_days / 420)
    if age_days < 14:
        p_done = 0.0 if with_items else p_done / 2
    if rng.random() < p_done:
        return EXEMPTED if rng.random() < 0.07 else COMPLETED
    r = rng.random()
    if r < 0.2 or (age_days < 7 and r < 0.6):
        return OPEN
    if r < 0.68:
        return IN_PROGRESS
    if r < 0.86:
        return SUBMITTED
    return ESCALATED


# The paths to each status, with the draw below which each is taken; the last is taken
# otherwise. "reopens" paths are left out of a `simple` case's choice.
CHOICES: dict[str, list[tuple[float, tuple[str, ...]]]] = {
    OPEN: [(0.1, (ESCALATED, OPEN)), (1, ())],
    IN_PROGRESS: [
        (0.15, (IN_PROGRESS, SUBMITTED, IN_PROGRESS)),
        (0.2, (IN_PROGRESS, ESCALATED, IN_PROGRESS)),
        (1, (IN_PROGRESS,)),
    ],
    SUBMITTED: [
        (0.12, (IN_PROGRESS, SUBMITTED, IN_PROGRESS, SUBMITTED)),
        (1, (IN_PROGRESS, SUBMITTED)),
    ],
    ESCALATED: [(0.5, (ESCALATED,)), (1, (IN_PROGRESS, ESCALATED))],
    COMPLETED: [
        (0.15, (IN_PROGRESS, SUBMITTED, IN_PROGRESS, SUBMITTED, COMPLETED)),
        (0.18, (IN_PROGRESS, SUBMITTED, COMPLETED, IN_PROGRESS, SUBMITTED, COMPLETED)),
        (1, (IN_PROGRESS, SUBMITTED, COMPLETED)),
    ],
    EXEMPTED: [
        (0.35, (EXEMPTED,)),
        (0.65, (IN_PROGRESS, EXEMPTED)),
        (0.8, (ESCALATED, EXEMPTED)),
        (1, (IN_PROGRESS, SUBMITTED, EXEMPTED)),
    ],
}


def path_to(rng: random.Random, status: str, simple: bool) -> Path:
    """The statuses a case went through after `open` to reach `status`. A `simple` path is
    never reopened: its first done move is its last."""
    r = rng.random()
    for below, statuses in CHOICES[status]:
        path = PATHS[statuses]
        if simple and path.first_done < len(statuses) - 1:
            continue
        if r < below:
            return path
    return PATHS[CHOICES[status][-1][1]]


@dataclass
class Story:
    """A case's history after its `created` row, and what the case row keeps of it."""

    status: str
    rows: list[Row]
    deadline: int  # ordinal of the deadline in force at the end
    closed: int | None  # offset of the move that closed it, if it is done
    overdue_at_close: bool
    first_done: int | None
    last: int
    done_changes: list[int]  # offsets of the moves into or out of a done state
    measures: str
    progress: str
    checked: int | None  # offset of the checklist's confirmation in force at the end


@dataclass
class Plan:
    """What `draw_story` decided before the rows are written: the path, the order of the
    steps (move indexes, RECTIFICATION, DEADLINE) and their moments."""

    path: tuple[str, ...]
    order: list[int]
    times: list[int]
    deadline_changes: int
    catch_up: bool


def _order(rnd: Any, path: Path, status: str, deadline: int, today_ord: int) -> Plan:
    """Rows between the moves (slot j: before move j), only while the case is not done:
    rectification once under way, deadline changes at any time."""
    statuses, first_done, first_ip = path
    extra: list[tuple[int, int]] = []  # (slot, kind), in the order drawn
    if first_ip is not None and first_ip < first_done:
        r = rnd()
        low, slots = first_ip + 1, first_done - first_ip
        for _ in range(0 if r < 0.2 else 1 if r < 0.5 else 2 if r < 0.8 else 3):
            extra.append((low + int(rnd() * slots), RECTIFICATION))
    r = rnd()
    n_deadline = 2 if r < 0.03 else 1 if r < 0.15 else 0
    # Most cases still open long after their deadline have had it extended (to about now);
    # the rest are the overdue ones.
    catch_up = status not in DONE and deadline < today_ord - 30 and rnd() < 0.7
    if catch_up:
        n_deadline = max(n_deadline, 1)
    for _ in range(n_deadline):
        extra.append((int(rnd() * (first_done + 1)), DEADLINE))
    extra.sort(key=lambda slot_kind: slot_kind[0])  # stable: in a slot, in the order drawn
    order: list[int] = []
    k = 0
    for j in range(len(statuses) + 1):
        while k < len(extra) and extra[k][0] == j:
            order.append(extra[k][1])
            k += 1
        if j < len(statuses):
            order.append(j)
    return Plan(statuses, order, [], n_deadline, catch_up)


def _times(
    rnd: Any, n: int, *, done: bool, created: int, span_days: int, limit: int, min_done: int
) -> list[int]:
    """`n` moments after `created`, sorted. A done case finishes around its deadline (most in
    time, some late); the others' history runs up to some time before `limit`."""
    if done:
        span = max(1, span_days) * DAY
        finish = created + int(span * (0.35 + (1.25 - 0.35) * rnd()))  # uniform(0.35, 1.25)
        finish = min(max(finish, created + n + 1, created + min_done), limit)
        width = finish - created  # moments in created + 1 .. finish
        times = sorted([created + 1 + int(rnd() * width) for _ in range(n - 1)])
        times.append(finish)
        return times
    top = min(limit, created + DAY + int(rnd() * 399 * DAY))
    top = max(top, min(limit, created + n + 1))
    width = top - created
    return sorted([created + 1 + int(rnd() * width) for _ in range(n)])


@dataclass
class Writing:
    """The rows of a story as they are written, step by step, and the case as it stands."""

    rnd: Any
    today_ord: int
    iso: Any
    checklist: list[str]
    deadline: int
    deadline_changes: int
    catch_up: bool
    rows: list[Row] = field(default_factory=list)
    current: str = OPEN
    measures: str = ""
    progress: str = ""
    closed: int | None = None
    late_close: bool = False
    first_done: int | None = None
    checked: int | None = None
    done_changes: list[int] = field(default_factory=list)

    def move(self, target: str, at: int) -> None:
        row = MOVE_ROWS[self.current, target]
        if self.checklist and row.verifies and self.checked is None:
            # Closing confirms the checklist first, at the same moment.
            self.checked = at
            changes = json_text({"confirmed": [None, self.checklist]})
            self.rows.append(("checklist", "", "", None, False, changes, "", SUPERVISOR, at))
        if row.crosses and self.current in DONE and self.checked is not None:
            # Reopening resets a confirmed checklist first: the next close confirms again.
            self.checked = None
            changes = json_text({"confirmed": [len(self.checklist), 0]})
            reset = ("checklist", "", "", None, False, changes, CHECKLIST_RESET_NOTE, row.role, at)
            self.rows.append(reset)
        late = self.deadline < self.today_ord + at // DAY
        notes = row.notes
        note = notes[0] if len(notes) == 1 else notes[int(self.rnd() * len(notes))]
        self.rows.append(
            ("transition", self.current, target, None, late, row.changes, note, row.role, at)
        )
        if row.crosses:
            self.done_changes.append(at)
        if target in DONE:
            self.closed, self.late_close = at, late
            if self.first_done is None:
                self.first_done = at
        else:
            self.closed, self.late_close = None, False
        self.current = target

    def rectify(self, at: int) -> None:
        rnd = self.rnd
        changes: dict[str, list[str]] = {}
        if not self.measures:
            self.measures = MEASURES[int(rnd() * len(MEASURES))]
            changes["measures"] = ["", self.measures]
        new = PROGRESS[int(rnd() * len(PROGRESS))]
        if new == self.progress:
            new = PROGRESS[(PROGRESS.index(new) + 1) % len(PROGRESS)]
        changes["progress"] = [self.progress, new]
        self.rows.append(
            ("rectification", "", "", None, False, json_text(changes), "", INSPECTOR, at)
        )
        self.progress = new

    def extend(self, at: int) -> None:
        rnd = self.rnd
        new = self.deadline + 30 + int(rnd() * 91)
        self.deadline_changes -= 1
        if self.catch_up and self.deadline_changes == 0:
            new = max(new, self.today_ord - 45 + int(rnd() * 196))
        changes = json_text({"deadline": [self.iso(self.deadline), self.iso(new)]})
        reason = DEADLINE_REASONS[int(rnd() * len(DEADLINE_REASONS))]
        self.rows.append(("deadline", "", "", new, False, changes, reason, SUPERVISOR, at))
        self.deadline = new


def draw_story(
    rng: random.Random,
    *,
    today_ord: int,
    iso: Any,
    created: int,
    deadline: int,
    status: str,
    checklist: list[str],
    limit: int,
    min_done: int = 0,
) -> Story:
    """The history of a case created at `created` with `deadline`, ending in `status`: every
    row strictly after `created` and at most at `limit`; a case ending done is done no sooner
    than `min_done` seconds after its creation."""
    rnd = rng.random
    path = path_to(rng, status, simple=min_done > 0)
    plan = _order(rnd, path, status, deadline, today_ord)
    done = status in DONE
    times = _times(
        rnd,
        len(plan.order),
        done=done,
        created=created,
        span_days=deadline - (today_ord + created // DAY),
        limit=limit,
        min_done=min_done,
    )
    writing = Writing(
        rnd, today_ord, iso, checklist, deadline, plan.deadline_changes, plan.catch_up
    )
    for step, at in zip(plan.order, times, strict=True):
        if step >= 0:
            writing.move(plan.path[step], at)
        elif step == RECTIFICATION:
            writing.rectify(at)
        else:
            writing.extend(at)
    return Story(
        status=status,
        rows=writing.rows,
        deadline=writing.deadline,
        closed=writing.closed,
        overdue_at_close=writing.late_close,
        first_done=writing.first_done,
        last=times[-1] if times else created,
        done_changes=writing.done_changes,
        measures=writing.measures,
        progress=writing.progress,
        checked=writing.checked,
    )
