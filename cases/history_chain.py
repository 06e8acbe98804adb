"""Tamper evidence for the case history: a hash chain per case.

Every `CaseEvent` stores its position in its case's history (`seq`: 1, 2, …), the hash of the
event before it (`prev_hash`, "" for the first) and `hash`: the SHA-256 of a canonical JSON
serialisation of its content together with both. The case stores the head of its chain
(`history_head`: the last event's hash, `history_length`: how many events) in the same
transaction. So an edited row no longer matches its hash, a deleted or reordered row breaks
the link of the row after it, and a deleted last row no longer matches the case's head.

One chain per case, not one for the whole table: writers of different cases never wait for
each other (a writer already holds its case's row lock when it appends).

The payload is the compact JSON text (UTF-8, no ASCII escaping) of

    [1, case_id, seq, prev_hash, kind, from_status, to_status, deadline, was_overdue, note,
     actor_id, actor_unit_id, created_at, changes]

with `deadline` as "YYYY-MM-DD" or null, `created_at` in UTC as "YYYY-MM-DDTHH:MM:SS.ffffffZ",
and `changes` with sorted keys and integral floats written as integers (what a round trip
through PostgreSQL's jsonb gives back). `event_hash` computes it from values; `FastChain`
computes the same text for a bulk loader whose values come from a small vocabulary, and
`ChainChecker` verifies the events of a case (used by `manage.py verify_history`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

VERSION = 1

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode

# The event columns the hash covers, in the order `event_hash` takes them (after case_id).
EVENT_FIELDS = (
    "case_id",
    "seq",
    "prev_hash",
    "kind",
    "from_status",
    "to_status",
    "deadline",
    "was_overdue",
    "note",
    "actor_id",
    "actor_unit_id",
    "created_at",
    "changes",
)


def _normal(value: Any) -> Any:
    """JSON content as it reads back from jsonb: string keys, lists, integral floats as ints."""
    if isinstance(value, dict):
        return {str(key): _normal(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(item) for item in value]
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def canonical_changes(changes: Any) -> str:
    return _encode(_normal(changes if changes is not None else {}))


def date_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        value = value.date()
    return value.isoformat()


def moment_text(value: datetime | str) -> str:
    """A moment in UTC with microseconds: "2025-06-01T02:03:04.000000Z"."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    offset = value.utcoffset()
    if offset is None:
        # As Django stores a naive datetime when time zone support is on.
        value = timezone.make_aware(value, timezone.get_default_timezone()).astimezone(UTC)
    elif offset:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"  # "+00:00" -> "Z"


def event_hash(
    *,
    case_id: int,
    seq: int,
    prev_hash: str,
    kind: str,
    from_status: str,
    to_status: str,
    deadline: Any,
    was_overdue: bool,
    note: str,
    actor_id: int | None,
    actor_unit_id: int | None,
    created_at: datetime | str,
    changes: Any,
) -> str:
    return _digest(
        case_id,
        seq,
        prev_hash,
        kind,
        from_status,
        to_status,
        date_text(deadline),
        bool(was_overdue),
        note,
        actor_id,
        actor_unit_id,
        moment_text(created_at),
        canonical_changes(changes),
    )


def _digest(*values: Any) -> str:
    """The hash of EVENT_FIELDS' values as text, `changes` last as canonical JSON text."""
    head = _encode([VERSION, *values[:-1]])
    return hashlib.sha256(f"{head[:-1]},{values[-1]}]".encode()).hexdigest()


def seal(event: Any, *, prev_hash: str, seq: int) -> str:
    """Link an unsaved CaseEvent after `prev_hash` as number `seq`; returns its hash."""
    event.prev_hash = prev_hash
    event.seq = seq
    event.hash = event_hash(**{name: getattr(event, name) for name in EVENT_FIELDS})
    return event.hash


class _Memo(dict[str, str]):
    """text -> its JSON fragment, computed on first use (a plain dict lookup afterwards)."""

    def __init__(self, encode: Any, limit: int) -> None:
        super().__init__()
        self.encode, self.limit = encode, limit

    def __missing__(self, text: str) -> str:
        if len(self) >= self.limit:
            self.clear()
        value = self[text] = self.encode(text)
        return value


class FastChain:
    """The same hashes as `event_hash`, for a bulk loader (`generate_cases`): the payload is
    assembled from memoised JSON fragments (kinds, statuses and notes come from a small
    vocabulary; `changes` arrives as JSON text), moments and dates as ready-made text."""

    def __init__(self) -> None:
        self.strings = _Memo(_encode, 100_000)
        self.changes = _Memo(lambda text: canonical_changes(json.loads(text)), 200_000)

    def digest(
        self,
        case_id: int,
        seq: int,
        prev_hash: str,
        kind: str,
        from_status: str,
        to_status: str,
        deadline: str | None,
        was_overdue: bool,
        note: str,
        actor_id: int | None,
        actor_unit_id: int | None,
        created_at: str,
        changes: str,
    ) -> str:
        """`deadline` as "YYYY-MM-DD" or None, `created_at` as `moment_text` gives it,
        `changes` as JSON text."""
        s = self.strings
        day = "null" if deadline is None else s[deadline]
        actor = "null" if actor_id is None else actor_id
        unit = "null" if actor_unit_id is None else actor_unit_id
        payload = (
            f'[{VERSION},{case_id},{seq},"{prev_hash}",{s[kind]},{s[from_status]},'
            f"{s[to_status]},{day},{'true' if was_overdue else 'false'},{s[note]},{actor},"
            f'{unit},"{created_at}",{self.changes[changes]}]'
        )
        return hashlib.sha256(payload.encode()).hexdigest()


# --- verification ----------------------------------------------------------------------------

EDITED = "edited"
DELETED = "deleted"
REORDERED = "reordered"
HEAD_MISMATCH = "head mismatch"


@dataclass(frozen=True)
class Break:
    case_id: int
    reason: str  # EDITED, DELETED, REORDERED or HEAD_MISMATCH
    event_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f" at event {self.event_id}" if self.event_id is not None else ""
        return f"case {self.case_id}: {self.reason}{where} ({self.detail})"


# Row layout `ChainChecker.check` expects: the event's id, then EVENT_FIELDS (`changes` as
# JSON text), then its hash.
ROW_FIELDS = ("id", *EVENT_FIELDS[:-1], "changes_text", "hash")


class ChainChecker:
    """Checks cases one by one; keeps the canonical form of the `changes` texts it has seen
    (most are repeated: status moves, checklists)."""

    def __init__(self) -> None:
        self.changes = _Memo(lambda text: canonical_changes(json.loads(text)), 200_000)

    def check(
        self, case_id: int, head: str, length: int, rows: Sequence[Sequence[Any]]
    ) -> Break | None:
        """The first break in one case's chain, or None. `rows` in ROW_FIELDS layout, ordered
        by (seq, id)."""
        hashes = {row[-1] for row in rows}
        changes = self.changes
        expected_prev, expected_seq = "", 1
        for row in rows:
            event_id, seq, prev_hash, stored = row[0], row[2], row[3], row[-1]
            if seq > expected_seq:
                missing = (
                    f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}–#{seq - 1}"
                )
                detail = f"event {missing} missing before #{seq}"
                return Break(case_id, DELETED, event_id, detail)
            if seq < expected_seq:
                detail = f"#{seq} found after #{expected_seq - 1}"
                return Break(case_id, REORDERED, event_id, detail)
            if prev_hash != expected_prev:
                if prev_hash in hashes:
                    detail = f"#{seq} names another event of the case as its predecessor"
                    return Break(case_id, REORDERED, event_id, detail)
                detail = f"#{seq} names a predecessor that no longer matches #{seq - 1}"
                return Break(case_id, EDITED, event_id, detail)
            _id, case, _seq, prev, kind, from_s, to_s, day, late, note, actor, unit, at = row[:13]
            computed = _digest(
                case,
                seq,
                prev,
                kind,
                from_s,
                to_s,
                date_text(day),
                bool(late),
                note,
                actor,
                unit,
                moment_text(at),
                changes[row[13]],
            )
            if computed != stored:
                return Break(case_id, EDITED, event_id, f"#{seq} does not match its hash")
            expected_prev, expected_seq = stored, seq + 1
        found = expected_seq - 1
        if found < length:
            missing = f"#{length}" if found + 1 == length else f"#{found + 1}–#{length}"
            detail = f"the case records {length} events, event {missing} missing"
            return Break(case_id, DELETED, None, detail)
        if found > length:
            detail = f"the case records {length} events, {found} found"
            return Break(case_id, HEAD_MISMATCH, None, detail)
        if expected_prev != head:
            return Break(case_id, HEAD_MISMATCH, None, "the last event is not the case's head")
        return None


def iter_cases(
    case_model: Any, event_model: Any, *, batch: int = 1000, case_id: int | None = None
) -> Iterator[tuple[int, str, int, list[tuple[Any, ...]]]]:
    """(case id, head, length, events in ROW_FIELDS layout ordered by seq, id) for every case
    in id order, read in batches of `batch` cases: memory stays bounded for any table size and
    each batch is an index range scan of the history."""
    cases = case_model._base_manager.order_by("pk")
    if case_id is not None:
        cases = cases.filter(pk=case_id)
    last = None
    while True:
        page = cases if last is None else cases.filter(pk__gt=last)
        heads = list(page.values_list("pk", "history_head", "history_length")[:batch])
        if not heads:
            return
        first, last = heads[0][0], heads[-1][0]
        events: dict[int, list[tuple[Any, ...]]] = {}
        rows = (
            event_model._base_manager.filter(case_id__gte=first, case_id__lte=last)
            .annotate(changes_text=Cast("changes", TextField()))
            .order_by("case_id", "seq", "pk")
            .values_list(*ROW_FIELDS)
        )
        for row in rows.iterator(chunk_size=5000):
            events.setdefault(row[1], []).append(row)
        for pk, head, length in heads:
            yield pk, head, length, events.get(pk, [])
