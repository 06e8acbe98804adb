"""Tamper evidence for the audit log: one chain of keyed seals over every entry.

Entry n's seal is `cases.sealing.seal(seal of entry n-1, payload of entry n)` ("" before the
first), where the payload is the compact canonical JSON (as `cases.history_chain` writes it:
sorted keys, no ASCII escaping, UTC moments with microseconds) of

    [1, seq, at, actor_id, actor_unit_id, actor_role, action, target_type, target_id,
     target_label, target_unit_id, case_id, ip_address, path, note, changes]

Why one chain for the whole log and not one per day or per person: audited acts are rare next
to case writes (a view of a clue, an admin edit, an export), so one short lock per act costs
little, and a single order makes every deleted, inserted or reordered entry visible, wherever
it is. Without `HISTORY_SEAL_KEY` nobody with the database can write a seal that verifies.

Retention: `purge_audit` deletes the oldest entries up to an anchor and records, as a sealed
`audit_purge` entry, the anchor's number and seal. The verifier starts the chain after the
latest purge's anchor; an entry missing anywhere else breaks it.

Not caught by the seals alone: deleting the newest entries (the chain left is shorter but
whole) or the whole table. `audit_head()` gives the head for a checkpoint kept outside the
database; `verify_audit(checkpoint=...)` then finds a rolled-back tail too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from cases.history_chain import canonical_changes, moment_text
from cases.sealing import seal, seal_matches

from .models import AuditEntry

VERSION = 1

# The entry columns the seal covers, in payload order (`changes` last).
SEALED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_unit_id",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "target_unit_id",
    "case_id",
    "ip_address",
    "path",
    "note",
    "changes",
)
# Clocks of several application servers differ a little; beyond this an entry is "future".
CLOCK_TOLERANCE = timedelta(minutes=5)


def entry_payload(values: dict[str, Any]) -> str:
    """The canonical text sealed for an entry, from its SEALED_FIELDS values."""
    row = [values[name] for name in SEALED_FIELDS]
    row[1] = moment_text(row[1])
    # canonical_changes is the project's canonical JSON: a list of scalars and the nested
    # `changes` come out exactly as they read back from jsonb.
    return canonical_changes([VERSION, *row])


def entry_seal(prev_seal: str, values: dict[str, Any]) -> str:
    return seal(prev_seal, entry_payload(values))


def audit_head() -> tuple[int, str] | None:
    """(seq, seal) of the newest entry, for a checkpoint kept outside the database."""
    return AuditEntry.objects.order_by("-seq").values_list("seq", "seal").first()


@dataclass(frozen=True)
class Problem:
    seq: int | None
    reason: str  # "edited", "missing", "inserted", "time", "checkpoint"
    detail: str

    def __str__(self) -> str:
        where = f" at entry #{self.seq}" if self.seq is not None else ""
        return f"audit log: {self.reason}{where} ({self.detail})"


def _anchor() -> tuple[int, str]:
    """Where the surviving chain starts: after the latest purge's anchor, or at the start."""
    purge = (
        AuditEntry.objects.filter(action=AuditEntry.Action.AUDIT_PURGE)
        .order_by("-seq")
        .values_list("changes", flat=True)
        .first()
    )
    if not purge:
        return 0, ""
    try:
        return int(purge["anchor_seq"]), str(purge["anchor_seal"])
    except (KeyError, TypeError, ValueError):
        return 0, ""  # a malformed purge entry: its own seal fails below


def _rows() -> Iterator[dict[str, Any]]:
    fields = [name for name in SEALED_FIELDS if name != "changes"]
    rows = (
        AuditEntry.objects.annotate(changes_text=Cast("changes", TextField()))
        .order_by("seq", "pk")
        .values(*fields, "changes_text", "seal")
    )
    for row in rows.iterator(chunk_size=5000):
        # The text jsonb gives back, parsed: what `entry_payload` canonicalises on writing.
        row["changes"] = canonical_json(row.pop("changes_text"))
        yield row


def canonical_json(text: str | None) -> Any:
    return json.loads(text) if text else {}


def verify_audit(
    *, checkpoint: tuple[int, str] | None = None, now: datetime | None = None
) -> list[Problem]:
    """Every problem of the audit log's chain: seals, numbering, timestamps (never earlier
    than the entry before, never in the future) and, given `checkpoint` (seq, seal) from
    `audit_head()` at some earlier time, that the log still holds that entry unchanged."""
    now = now or timezone.now()
    anchor_seq, prev_seal = _anchor()
    expected, prev_at = anchor_seq + 1, None
    problems: list[Problem] = []
    seen_checkpoint = checkpoint is None or checkpoint[0] <= anchor_seq
    for row in _rows():
        seq = row["seq"]
        if seq < expected:
            problems.append(Problem(seq, "inserted", f"#{seq} found after #{expected - 1}"))
            continue
        if seq > expected:
            gap = f"#{expected}" if seq == expected + 1 else f"#{expected}–#{seq - 1}"
            problems.append(Problem(seq, "missing", f"entry {gap} missing before #{seq}"))
        elif not seal_matches(row["seal"], prev_seal, entry_payload(row)):
            problems.append(Problem(seq, "edited", f"#{seq} does not match its seal"))
        at = row["at"]
        if prev_at is not None and at < prev_at:
            problems.append(Problem(seq, "time", f"#{seq} is earlier than the entry before"))
        if at > now + CLOCK_TOLERANCE:
            problems.append(Problem(seq, "time", f"#{seq} is in the future"))
        if checkpoint is not None and seq == checkpoint[0]:
            seen_checkpoint = True
            if row["seal"] != checkpoint[1]:
                problems.append(Problem(seq, "checkpoint", "differs from the checkpoint"))
        prev_seal, prev_at, expected = row["seal"], at, seq + 1
    if not seen_checkpoint and checkpoint is not None:
        problems.append(
            Problem(
                checkpoint[0],
                "checkpoint",
                f"the checkpoint's entry #{checkpoint[0]} is gone (the log ends at "
                f"#{expected - 1})",
            )
        )
    return problems
