"""Verification of the sealed case history (`cases.history_chain`), for `verify_history`.

Per case, in one pass over its events in chain order: every seal (keyed: a row edited,
inserted or rehashed without the key fails), the links and the case's head, the timestamps
(never decreasing along the chain, never in the future), and the case row's current state
against what its events say it is (status, deadline, responsibility, rectification and edited
details). Against the latest signed checkpoint (`cases.history_checkpoint`): a chain shorter
than, or different from, what was checkpointed is a rollback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import TextField
from django.db.models.functions import Cast

from .history_chain import (
    EVENT_FIELDS,
    changes_memo,
    date_text,
    evidence_text,
    moment_text,
    payload_text,
    unkeyed_v1_hash,
)
from .sealing import seal_matches

EDITED = "edited"
DELETED = "deleted"
REORDERED = "reordered"
HEAD_MISMATCH = "head mismatch"
UNSEALED = "unsealed"
TIME = "time out of order"
STATE = "state mismatch"
ROLLED_BACK = "rolled back"

# A writer's clock may run slightly ahead of the verifier's.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Break:
    case_id: int
    reason: str  # one of the constants above
    event_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f" at event {self.event_id}" if self.event_id is not None else ""
        return f"case {self.case_id}: {self.reason}{where} ({self.detail})"


# Row layout `ChainChecker.check` expects: the event's id, then the event columns
# (`changes` as JSON text), then its seal.
ROW_FIELDS = ("id", *EVENT_FIELDS[:-1], "changes_text", "hash")
# The case columns whose current value the events record (see `state_break`).
STATE_FIELDS = (
    "status",
    "deadline",
    "responsible_unit_id",
    "owner_id",
    "measures",
    "progress",
    "title",
    "description",
    "source",
    "method",
    "is_key_problem",
    "not_for_publication",
)


@dataclass
class CaseChain:
    """One case as read for verification."""

    case_id: int
    head: str
    length: int
    state: dict[str, Any]
    rows: list[tuple[Any, ...]]
    evidence: Mapping[int, list[str]] = field(default_factory=dict)  # event id -> SHA-256s


class ChainChecker:
    """Checks cases one by one; keeps the canonical form of the `changes` texts it has seen."""

    def __init__(self, now: datetime) -> None:
        self.changes = changes_memo()
        self.latest = now + CLOCK_SKEW

    def check(self, chain: CaseChain) -> Break | None:
        """The first break in one case's chain, or None; rows ordered by (seq, id)."""
        case_id, rows = chain.case_id, chain.rows
        hashes = {row[-1] for row in rows}
        expected_prev, expected_seq, last_at = "", 1, None
        for row in rows:
            event_id, seq, prev_hash, stored, at = row[0], row[2], row[3], row[-1], row[12]
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
            if not seal_matches(stored, prev_hash, self.payload(row, chain.evidence)):
                if stored == self.unkeyed(row):
                    detail = f"#{seq} has an unkeyed version-1 hash: run manage.py seal_history"
                    return Break(case_id, UNSEALED, event_id, detail)
                return Break(case_id, EDITED, event_id, f"#{seq} does not match its seal")
            if last_at is not None and at < last_at:
                detail = f"#{seq} is dated {moment_text(at)}, before #{seq - 1}"
                return Break(case_id, TIME, event_id, detail)
            if at > self.latest:
                return Break(case_id, TIME, event_id, f"#{seq} is dated in the future")
            expected_prev, expected_seq, last_at = stored, seq + 1, at
        return self._check_head(chain, expected_prev, expected_seq - 1)

    @staticmethod
    def _check_head(chain: CaseChain, last: str, found: int) -> Break | None:
        case_id, length = chain.case_id, chain.length
        if found < length:
            missing = f"#{length}" if found + 1 == length else f"#{found + 1}–#{length}"
            detail = f"the case records {length} events, event {missing} missing"
            return Break(case_id, DELETED, None, detail)
        if found > length:
            detail = f"the case records {length} events, {found} found"
            return Break(case_id, HEAD_MISMATCH, None, detail)
        if last != chain.head:
            return Break(case_id, HEAD_MISMATCH, None, "the last event is not the case's head")
        return None

    def payload(self, row: Sequence[Any], evidence: Mapping[int, list[str]]) -> str:
        _id, case, seq, _prev, kind, from_s, to_s, day, late, note, actor, unit, at = row[:13]
        return payload_text(
            case,
            seq,
            kind,
            from_s,
            to_s,
            date_text(day),
            late,
            note,
            actor,
            unit,
            moment_text(at),
            evidence_text(evidence.get(row[0], ())),
            self.changes[row[13]],
        )

    def unkeyed(self, row: Sequence[Any]) -> str:
        case_id, seq, prev, kind, from_s, to_s, day, late, note, actor, unit, at = row[1:13]
        return unkeyed_v1_hash(
            case_id, seq, prev, kind, from_s, to_s, day, late, note, actor, unit, at,
            self.changes[row[13]],
        )  # fmt: skip


def _new_value(value: Any) -> Any:
    """The id of a unit or user as `services._json` records it ({"id", "name"}), or the value."""
    return value.get("id") if isinstance(value, dict) else value


# Which events record which case column: kind -> the `changes` keys they set.
_RECORDED = {
    "assignment": ("responsible_unit", "owner"),
    "rectification": ("measures", "progress"),
    "edit": ("title", "description", "source", "method", "is_key_problem", "not_for_publication"),
}


def state_break(chain: CaseChain) -> Break | None:
    """The case row against its events (given a verified chain): the status of its last status
    row, the deadline of its last deadline row, and the last value every later change recorded.
    A case row edited, or rolled back, without its history is caught here."""
    expected: dict[str, Any] = {}
    for row in chain.rows:
        kind = row[4]
        if kind in ("created", "transition"):
            expected["status"] = row[6]
        if kind in ("created", "deadline") and row[7] is not None:
            expected["deadline"] = date_text(row[7])
        if kind in _RECORDED:
            changes = json.loads(row[13])
            for name in _RECORDED[kind]:
                if name in changes:
                    column = f"{name}_id" if name in ("responsible_unit", "owner") else name
                    expected[column] = _new_value(changes[name][1])
    for column, value in expected.items():
        current = chain.state[column]
        if column == "deadline":
            current = date_text(current)
        if current != value:
            detail = f"{column} is {current!r} but its history says {value!r}"
            return Break(chain.case_id, STATE, None, detail)
    return None


def checkpoint_break(chain: CaseChain, checkpointed: tuple[int, str] | None) -> Break | None:
    """The chain against its checkpointed head (length, seal): it may have grown since, but
    its first `length` events must still end in that seal."""
    if checkpointed is None:
        return None
    length, seal = checkpointed
    if len(chain.rows) < length:
        detail = f"the checkpoint recorded {length} events, {len(chain.rows)} remain"
        return Break(chain.case_id, ROLLED_BACK, None, detail)
    if chain.rows[length - 1][-1] != seal:
        detail = f"event #{length} is not the one checkpointed"
        return Break(chain.case_id, ROLLED_BACK, chain.rows[length - 1][0], detail)
    return None


def iter_cases(
    case_model: Any,
    event_model: Any,
    evidence_model: Any,
    *,
    batch: int = 1000,
    case_id: int | None = None,
) -> Iterator[CaseChain]:
    """Every case (or one) in id order with its events in ROW_FIELDS layout ordered by (seq,
    id) and its evidence files' SHA-256 per event, read in batches of `batch` cases: memory
    stays bounded for any table size and each batch is an index range scan."""
    cases = case_model._base_manager.order_by("pk")
    if case_id is not None:
        cases = cases.filter(pk=case_id)
    last = None
    columns = ("pk", "history_head", "history_length", *STATE_FIELDS)
    while True:
        page = cases if last is None else cases.filter(pk__gt=last)
        heads = list(page.values_list(*columns)[:batch])
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
        # By the event the file points at (whatever case the evidence row claims).
        files: dict[int, list[str]] = {}
        evidence = evidence_model._base_manager.filter(
            event__case_id__gte=first, event__case_id__lte=last
        ).values_list("event_id", "sha256")
        for event, sha256 in evidence.iterator(chunk_size=5000):
            files.setdefault(event, []).append(sha256)
        for pk, head, length, *state in heads:
            yield CaseChain(
                pk,
                head,
                length,
                dict(zip(STATE_FIELDS, state, strict=True)),
                events.get(pk, []),
                files,
            )
