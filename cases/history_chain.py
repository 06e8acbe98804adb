"""Tamper evidence for the case history: a keyed seal chain per case.

Every `CaseEvent` stores its position in its case's history (`seq`: 1, 2, …), the seal of the
event before it (`prev_hash`, "" for the first) and `hash`: its own seal, an HMAC-SHA256 keyed
with `settings.HISTORY_SEAL_KEY` (`cases.sealing`, a key held outside the database) over the
previous seal and a canonical JSON serialisation of the event's full content, including the
SHA-256 of every evidence file attached to it and its timestamp. The case stores the head of
its chain (`history_head`: the last event's seal, `history_length`: how many events) in the
same transaction. So an edited row no longer matches its seal, a deleted or reordered row
breaks the link of the row after it, a deleted last row no longer matches the case's head, and
whoever has the database but not the key cannot compute a seal for a forged or edited row.
(A consistent rollback of the newest rows together with the case's head is caught by the
signed checkpoints that `manage.py checkpoint_history` writes outside the database.)

One chain per case, not one for the whole table: writers of different cases never wait for
each other (a writer already holds its case's row lock when it appends).

The sealed payload (VERSION 2) is the compact JSON text (UTF-8, no ASCII escaping) of

    [2, case_id, seq, kind, from_status, to_status, deadline, was_overdue, note, actor_id,
     actor_unit_id, created_at, evidence, changes]

with `deadline` as "YYYY-MM-DD" or null, `created_at` in UTC as "YYYY-MM-DDTHH:MM:SS.ffffffZ",
`evidence` the sorted list of the event's evidence files' SHA-256 (hex), and `changes` with
sorted keys and integral floats written as integers (what a round trip through PostgreSQL's
jsonb gives back). `event_hash` computes the seal from values; `FastChain` computes the same
text for a bulk loader whose values come from a small vocabulary. Verification lives in
`cases.history_verify`.

Version 1 (before the key) was an unkeyed SHA-256 over
`[1, case_id, seq, prev_hash, kind, …, created_at, changes]`: `unkeyed_v1_hash` still computes
it, for `manage.py seal_history`, which verifies an upgraded database's old chains once and
seals them; `verify_history` rejects any row still in that form.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from django.utils import timezone

from .sealing import Sealer
from .sealing import seal as keyed_seal

VERSION = 2

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode

# The event columns the seal covers, in the order `event_hash` takes them (after case_id);
# the evidence files' SHA-256 come from the evidence rows that point at the event.
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


def evidence_text(evidence: Iterable[str]) -> str:
    """The evidence part of the payload: the files' SHA-256, sorted (their order of upload is
    not content)."""
    return _encode(sorted(evidence))


def payload_text(
    case_id: int,
    seq: int,
    kind: str,
    from_status: str,
    to_status: str,
    deadline: str | None,
    was_overdue: bool,
    note: str,
    actor_id: int | None,
    actor_unit_id: int | None,
    created_at: str,
    evidence: str,
    changes: str,
) -> str:
    """The sealed text from values already in canonical form (`date_text`, `moment_text`,
    `evidence_text`, `canonical_changes`)."""
    return payload_layout(
        case_id,
        seq,
        _encode(kind),
        _encode(from_status),
        _encode(to_status),
        _encode(deadline),
        was_overdue,
        _encode(note),
        actor_id,
        actor_unit_id,
        _encode(created_at),
        evidence,
        changes,
    )


def payload_layout(
    case_id: int,
    seq: int,
    kind: str,
    from_status: str,
    to_status: str,
    deadline: str,
    was_overdue: bool,
    note: str,
    actor_id: int | None,
    actor_unit_id: int | None,
    created_at: str,
    evidence: str,
    changes: str,
) -> str:
    """The one layout of the sealed text (VERSION 2), from its parts as JSON text: `kind`,
    `from_status`, `to_status`, `deadline`, `note` and `created_at` already encoded (compact
    JSON strings, or null), `evidence` and `changes` canonical. `payload_text` and `FastChain`
    both end here."""
    actor = "null" if actor_id is None else actor_id
    unit = "null" if actor_unit_id is None else actor_unit_id
    return (
        f"[{VERSION},{case_id},{seq},{kind},{from_status},{to_status},{deadline},"
        f"{'true' if was_overdue else 'false'},{note},{actor},{unit},{created_at},"
        f"{evidence},{changes}]"
    )


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
    evidence: Iterable[str] = (),
) -> str:
    """The seal of an event after `prev_hash`; `evidence`: its files' SHA-256."""
    payload = payload_text(
        case_id,
        seq,
        kind,
        from_status,
        to_status,
        date_text(deadline),
        was_overdue,
        note,
        actor_id,
        actor_unit_id,
        moment_text(created_at),
        evidence_text(evidence),
        canonical_changes(changes),
    )
    return keyed_seal(prev_hash, payload)


def seal(event: Any, *, prev_hash: str, seq: int, evidence: Iterable[str] = ()) -> str:
    """Link an unsaved CaseEvent after `prev_hash` as number `seq`, sealing the SHA-256 of the
    evidence files that will point at it; returns its seal."""
    event.prev_hash = prev_hash
    event.seq = seq
    values = {name: getattr(event, name) for name in EVENT_FIELDS}
    event.hash = event_hash(**values, evidence=evidence)
    return event.hash


def unkeyed_v1_hash(
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
    changes_text: str,
) -> str:
    """The hash of version 1 (unkeyed SHA-256; no evidence), `changes_text` canonical. Only
    to verify a chain written before the key, once, before it is sealed (`seal_history`), and
    to say why such a row fails `verify_history`."""
    head = _encode(
        [
            1,
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
        ]
    )
    return hashlib.sha256(f"{head[:-1]},{changes_text}]".encode()).hexdigest()


class Memo(dict[str, str]):
    """text -> its JSON fragment, computed on first use (a plain dict lookup afterwards)."""

    def __init__(self, encode: Any, limit: int) -> None:
        super().__init__()
        self.encode, self.limit = encode, limit

    def __missing__(self, text: str) -> str:
        if len(self) >= self.limit:
            self.clear()
        value = self[text] = self.encode(text)
        return value


def changes_memo() -> Memo:
    """JSON text of `changes` -> its canonical form (most texts repeat: status moves)."""
    return Memo(lambda text: canonical_changes(json.loads(text)), 200_000)


class FastChain:
    """The same seals as `event_hash`, for a bulk loader (`synthetic`'s bench mode): the
    payload is laid out by the same `payload_layout`, from memoised JSON fragments (kinds,
    statuses and notes come from a small vocabulary; `changes` arrives as JSON text), moments
    and dates as ready-made text."""

    def __init__(self) -> None:
        self.strings = Memo(_encode, 100_000)
        self.changes = changes_memo()
        self.sealer: Sealer | None = None  # made on first use, or by `rekey`

    def rekey(self) -> Sealer:
        """Seal with the key as the setting has it now: the chain keeps the key it first
        sealed with rather than read the setting for every seal."""
        self.sealer = Sealer()
        return self.sealer

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
        evidence: Iterable[str] = (),
    ) -> str:
        """`deadline` as "YYYY-MM-DD" or None, `created_at` as `moment_text` gives it,
        `changes` as JSON text, `evidence` the files' SHA-256."""
        s = self.strings
        sealer = self.sealer or self.rekey()
        return sealer.seal(
            prev_hash,
            payload_layout(
                case_id,
                seq,
                s[kind],
                s[from_status],
                s[to_status],
                "null" if deadline is None else s[deadline],
                was_overdue,
                s[note],
                actor_id,
                actor_unit_id,
                f'"{created_at}"',
                evidence_text(evidence) if evidence else "[]",
                self.changes[changes],
            ),
        )
