"""The one bulk writer: the rows of drawn cases, as the services would have written them.

- A case's history (`events`) has the rows `cases.history.append_event` writes for the same
  operations, with the same payload (kind, statuses, deadline, overdue flag, `changes`, note,
  actor and the unit they act for, moment), numbered from 1 and sealed into the case's chain
  by `cases.history_chain`; the case row carries the chain's head and length.
- `BulkWriter` (the default) writes with `bulk_create`, sealing each event with
  `history_chain.seal`, exactly as `append_event` does. Any database.
- The bench mode (`synthetic.bench`) writes the same rows (`case_row`, `events`, `point_rows`)
  as COPY text, sealed by `history_chain.FastChain` (the same seals, from memoised parts).

Who makes a row: a supervisor's move or decision is the supervisor's who registered the case,
for the supervising commission; the responsible unit's are its owner's, for that unit (no
actor when the case has no owner).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection

from cases import history_chain
from cases.models import Case, CaseEvent, CheckPoint

from .clock import Clock
from .drawing import CaseRec
from .life import OPEN, SUPERVISOR, json_text

NO_CHANGES = "{}"


class Event(NamedTuple):
    """A history row as `append_event` receives it: `deadline` as an ordinal, `changes` as
    JSON text, `at` as an offset (see `synthetic.clock`)."""

    kind: str
    from_status: str
    to_status: str
    deadline: int | None
    was_overdue: bool
    changes: str
    note: str
    actor_id: int | None
    actor_unit_id: int | None
    at: int


def events(rec: CaseRec) -> Iterator[Event]:
    """Every history row of a case, `created` first (what `case_create` writes)."""
    sup, supervising = rec.supervisor_id, rec.supervising_unit_id
    owner, unit = rec.owner_id, rec.responsible_unit_id
    created = json_text({"checklist": [None, rec.checklist]}) if rec.checklist else NO_CHANGES
    yield Event(
        "created",
        "",
        OPEN,
        rec.original_deadline,
        False,
        created,
        "",
        sup,
        supervising,
        rec.created,
    )
    for kind, from_s, to_s, deadline, late, changes, note, role, at in rec.story.rows:
        if role == SUPERVISOR:
            yield Event(kind, from_s, to_s, deadline, late, changes, note, sup, supervising, at)
        else:
            yield Event(kind, from_s, to_s, deadline, late, changes, note, owner, unit, at)


# The case row. Dates are ordinals (DATE_COLUMNS), moments offsets (MOMENT_COLUMNS); `id` and
# the chain's head are known once the case is written or its id reserved.
CASE_COLUMNS = (
    "id",
    "code",
    "title",
    "description",
    "inspection_id",
    "source",
    "parent_id",
    "responsible_unit_id",
    "owner_id",
    "supervising_unit_id",
    "region_id",
    "deadline",
    "original_deadline",
    "measures",
    "progress",
    "method",
    "is_key_problem",
    "amount",
    "status",
    "items_total",
    "items_done",
    "created_at",
    "updated_at",
    "closed_at",
    "overdue_at_close",
    "history_head",
    "history_length",
)
DATE_COLUMNS = frozenset({"deadline", "original_deadline"})
MOMENT_COLUMNS = frozenset({"created_at", "updated_at", "closed_at", "confirmed_at"})


def case_row(rec: CaseRec) -> tuple[Any, ...]:
    """The case's values in CASE_COLUMNS order."""
    story = rec.story
    return (
        rec.id,
        rec.code,
        rec.title,
        rec.description,
        rec.inspection_id,
        rec.source,
        rec.parent.id if rec.parent is not None else None,
        rec.responsible_unit_id,
        rec.owner_id,
        rec.supervising_unit_id,
        rec.region_id,
        story.deadline,
        rec.original_deadline,
        story.measures,
        story.progress,
        rec.method,
        rec.is_key_problem,
        rec.amount,
        story.status,
        rec.items_total,
        rec.items_done,
        rec.created,
        rec.updated,
        story.closed,
        story.overdue_at_close,
        rec.head,
        rec.length,
    )


POINT_COLUMNS = ("case_id", "text", "position", "confirmed", "confirmed_by_id", "confirmed_at")


def point_rows(rec: CaseRec) -> list[tuple[Any, ...]]:
    """The case's checklist in POINT_COLUMNS order: confirmed by the supervisor at the close
    that confirmed it, if it still stands."""
    checked = rec.story.checked
    by = rec.supervisor_id if checked is not None else None
    return [
        (rec.id, text, position, checked is not None, by, checked)
        for position, text in enumerate(rec.checklist)
    ]


def python_values(clock: Clock, columns: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    """A row as model field values: dates and moments from ordinals and offsets."""
    values = dict(zip(columns, row, strict=True))
    for column, value in values.items():
        if value is None:
            continue
        if column in DATE_COLUMNS:
            values[column] = clock.date(value)
        elif column in MOMENT_COLUMNS:
            values[column] = clock.at(value)
    return values


class CaseIds:
    """Case ids reserved in advance, as runs (first, last), given out in order."""

    def __init__(self, runs: Iterable[tuple[int, int]]) -> None:
        self.runs = deque(runs)

    def take(self, count: int) -> list[tuple[int, int]]:
        taken: list[tuple[int, int]] = []
        while count:
            first, last = self.runs[0]
            size = min(count, last - first + 1)
            taken.append((first, first + size - 1))
            if first + size > last:
                self.runs.popleft()
            else:
                self.runs[0] = (first + size, last)
            count -= size
        return taken


def reserve_case_ids(count: int) -> CaseIds:
    """`count` case ids, so that the seals (which cover the case id) are computed before the
    rows are written. On PostgreSQL from the table's sequence, in one statement: consecutive
    unless another session draws from it meanwhile, hence runs. Elsewhere (SQLite: one writer
    at a time, and this transaction has written already) those after the largest."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Case._meta.db_table}")  # noqa: S608
            last = cursor.fetchone()[0]
            return CaseIds([(last + 1, last + count)] if count else [])
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Case._meta.db_table])
        sequence = cursor.fetchone()[0]
        cursor.execute(
            "SELECT min(id), max(id) FROM ("
            "  SELECT id, id - row_number() OVER (ORDER BY id) AS run FROM ("
            "    SELECT nextval(%s::regclass) AS id FROM generate_series(1, %s)"
            "  ) AS reserved"
            ") AS numbered GROUP BY run ORDER BY 1",
            [sequence, count],
        )
        return CaseIds(cursor.fetchall())


class BulkWriter:
    """Writes batches of drawn cases (ids assigned) with `bulk_create`: each history sealed
    one row after the other, as `append_event` seals it, then the cases with their chains'
    heads, their history and their checklists."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def case(self, rec: CaseRec) -> Case:
        values = python_values(self.clock, CASE_COLUMNS, case_row(rec))
        if values["amount"] is not None:
            values["amount"] = Decimal(values["amount"])
        return Case(**values)

    def history(self, rec: CaseRec) -> list[CaseEvent]:
        """The case's history, sealed; its chain's head and length recorded on `rec`."""
        clock = self.clock
        rows: list[CaseEvent] = []
        prev_hash = ""
        for seq, event in enumerate(events(rec), 1):
            row = CaseEvent(
                case_id=rec.id,
                kind=event.kind,
                from_status=event.from_status,
                to_status=event.to_status,
                deadline=clock.date(event.deadline) if event.deadline is not None else None,
                was_overdue=event.was_overdue,
                changes=json.loads(event.changes),
                note=event.note,
                actor_id=event.actor_id,
                actor_unit_id=event.actor_unit_id,
                created_at=clock.at(event.at),
            )
            prev_hash = history_chain.seal(row, prev_hash=prev_hash, seq=seq)
            rows.append(row)
        rec.head, rec.length = prev_hash, len(rows)
        return rows

    def write(self, chunk: list[CaseRec]) -> tuple[int, int]:
        """Write a batch (problems before their items); returns (events, checklist points)."""
        history = [row for rec in chunk for row in self.history(rec)]
        points = [
            CheckPoint(**python_values(self.clock, POINT_COLUMNS, row))
            for rec in chunk
            for row in point_rows(rec)
        ]
        Case.objects.bulk_create([self.case(rec) for rec in chunk], batch_size=1000)
        CaseEvent.objects.bulk_create(history, batch_size=2000)
        CheckPoint.objects.bulk_create(points, batch_size=2000)
        return len(history), len(points)
