"""The bench mode (`generate_cases --bench`): the rows of `synthetic.writer`, loaded fast for
the scale benchmark. PostgreSQL only; refused with debug off (a production database) unless
forced.

What makes it fast:
- the case ids are reserved from the table's sequence up front, so blocks can be drawn,
  sealed and formatted as COPY text anywhere: in worker processes (`synthetic.workers`, one per
  CPU by default) while the command sends the finished ones, in order, with COPY on its own
  connection and transaction, a batch (`--batch-size` cases or more) at a time;
- the seals come from `history_chain.FastChain` (the same seals as `history_chain.seal`, from
  memoised parts);
- into an empty database no other session uses, the case tables' secondary indexes are dropped
  and built once after the load, in its transaction (`synthetic.indexes`), and the per-row
  triggers do not fire during its COPY statements: every foreign key is checked once over the
  loaded tables after the load, in its transaction, and the roll-ups the statement triggers
  would have counted are recounted once (`synthetic.checks`);
- otherwise (`--keep-indexes`, for any database), foreign keys are checked by their triggers at
  the end of each COPY (`SET CONSTRAINTS ALL IMMEDIATE`), while the workers draw the next
  blocks, rather than all at once at the commit, and every trigger runs as for any other write.

What it never does: change the schema (no constraint, index or trigger is dropped, disabled or
altered, except the secondary indexes set aside and rebuilt as `synthetic.indexes` says), let a
row that breaks a constraint be committed, or let another session see the tables without their
indexes or the rows before every check has passed. The load is one transaction: it writes
everything or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection

from cases.history_chain import FastChain
from cases.models import Case, CaseEvent, CheckPoint

from .clock import Clock
from .drawing import Block, CaseRec, Drawer
from .vocabulary import ALL_TEXTS
from .writer import (
    CASE_COLUMNS,
    DATE_COLUMNS,
    MOMENT_COLUMNS,
    POINT_COLUMNS,
    case_row,
    events,
    point_rows,
)

# Below this many cases, drawing in the command's process costs less than starting workers.
WORKERS_FROM = 20_000
MAX_JOBS = 8


def require_bench_database(*, force: bool) -> None:
    """The bench mode is for scale and test databases: refused on one with debug off unless
    `force`, and anywhere but on PostgreSQL. Raises before anything is written."""
    if not settings.DEBUG and not force:
        raise CommandError(
            "--bench is for scale and test databases, and DJANGO_DEBUG is off: this may be a "
            "production database. Nothing was written. Add --force if it is a scale or staging "
            "database."
        )
    if connection.vendor != "postgresql":
        raise CommandError("--bench needs PostgreSQL (it loads with COPY). Nothing was written.")


# --- COPY text -------------------------------------------------------------------------------

NULL = "\\N"
BOOL_COLUMNS = frozenset({"is_key_problem", "overdue_at_close", "confirmed"})


def _copy_safe(texts: Iterable[str]) -> None:
    """Text goes into COPY lines unescaped, and into `changes` as JSON: the fixed vocabulary
    must need no escaping in either."""
    for text in texts:
        if any(c in text for c in ("\\", "\t", "\n", "\r", '"')):
            raise ValueError(f"not COPY-safe: {text!r}")


_copy_safe(ALL_TEXTS)


def _flag(value: bool) -> str:
    return "t" if value else "f"


class Lines:
    """Rows of a table (values as `synthetic.writer` gives them) as COPY text lines."""

    def __init__(self, clock: Clock, columns: tuple[str, ...]) -> None:
        self.cells: list[Callable[[Any], str]] = [
            clock.iso
            if column in DATE_COLUMNS
            else clock.utc_text
            if column in MOMENT_COLUMNS
            else _flag
            if column in BOOL_COLUMNS
            else str
            for column in columns
        ]

    def line(self, row: tuple[Any, ...]) -> str:
        cells = self.cells
        text = "\t".join([NULL if v is None else cells[i](v) for i, v in enumerate(row)])
        return text + "\n"


EVENT_COLUMNS = (
    "case_id",
    "kind",
    "from_status",
    "to_status",
    "deadline",
    "was_overdue",
    "changes",
    "note",
    "actor_id",
    "actor_unit_id",
    "created_at",
    "seq",
    "prev_hash",
    "hash",
)

# The history's seals, from memoised fragments of the fixed vocabulary: bounded memory; one
# per process.
CHAIN = FastChain()


def history_lines(clock: Clock, rec: CaseRec, lines: list[str]) -> None:
    """The case's history (ids assigned) as COPY lines in EVENT_COLUMNS order, each sealed
    after the one before; the chain's head and length recorded on `rec`. (Runs for every
    event: the moment's two texts come from the clock in one step.)"""
    iso, moment_texts, digest = clock.iso, clock.moment_texts, CHAIN.digest
    case_id, prev, seq = rec.id, "", 0
    for kind, from_s, to_s, deadline, late, changes, note, actor, unit, at in events(rec):
        seq += 1
        moment, chain_moment = moment_texts(at)
        day = iso(deadline) if deadline is not None else None
        seal = digest(
            case_id, seq, prev, kind, from_s, to_s, day, late, note, actor, unit, chain_moment,
            changes,
        )  # fmt: skip
        lines.append(
            f"{case_id}\t{kind}\t{from_s}\t{to_s}\t{day or NULL}\t{_flag(late)}\t{changes}\t"
            f"{note}\t{NULL if actor is None else actor}\t{NULL if unit is None else unit}\t"
            f"{moment}\t{seq}\t{prev}\t{seal}\n"
        )
        prev = seal
    rec.head, rec.length = prev, seq


@dataclass(slots=True)
class BlockText:
    """A block as COPY text (UTF-8), ready to be sent, and what it holds."""

    cases: bytes
    events: bytes
    points: bytes
    case_count: int
    event_count: int
    point_count: int


def copy_block(drawer: Drawer, block: Block) -> BlockText:
    """Draw a block (ids assigned) and format it for COPY: the history with its seals first,
    then the case lines, which carry each chain's head. Touches no database."""
    clock = drawer.clock
    CHAIN.rekey()  # the key of the settings as they are now, read once a block
    chunk = drawer.block(block)
    history: list[str] = []
    for rec in chunk:
        history_lines(clock, rec, history)
    case_lines, point_lines = Lines(clock, CASE_COLUMNS), Lines(clock, POINT_COLUMNS)
    points = [point_lines.line(row) for rec in chunk for row in point_rows(rec)]
    return BlockText(
        cases="".join([case_lines.line(case_row(rec)) for rec in chunk]).encode(),
        events="".join(history).encode(),
        points="".join(points).encode(),
        case_count=len(chunk),
        event_count=len(history),
        point_count=len(points),
    )


# --- Loading ---------------------------------------------------------------------------------


def _copy(cursor: Any, model: Any, columns: tuple[str, ...], parts: list[bytes]) -> None:
    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with cursor.copy(sql) as copy:
        for part in parts:
            copy.write(part)


def send(batch: list[BlockText], counts: dict[str, int]) -> None:
    """COPY a batch of blocks on the command's connection, in its transaction."""
    with connection.connection.cursor() as cursor:
        _copy(cursor, Case, CASE_COLUMNS, [text.cases for text in batch])
        _copy(cursor, CaseEvent, EVENT_COLUMNS, [text.events for text in batch])
        points = [text.points for text in batch if text.points]
        if points:
            _copy(cursor, CheckPoint, POINT_COLUMNS, points)
    for text in batch:
        counts["cases"] += text.case_count
        counts["events"] += text.event_count
        counts["checkpoints"] += text.point_count


def batches(texts: Iterator[BlockText], size: int) -> Iterator[list[BlockText]]:
    """Whole blocks, at least `size` cases a batch (the last one excepted)."""
    batch: list[BlockText] = []
    cases = 0
    for text in texts:
        batch.append(text)
        cases += text.case_count
        if cases >= size:
            yield batch
            batch, cases = [], 0
    if batch:
        yield batch
