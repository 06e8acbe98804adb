"""Signed checkpoints of the case history's chain heads, kept outside the database.

`write_checkpoint` (`manage.py checkpoint_history`, daily by beat) records, for every case,
how many events its chain has and the seal of the last one, in a file under
`settings.HISTORY_CHECKPOINT_DIR`, signed with the history's key (`cases.sealing`). Someone who
can write to the database can delete a case's newest events and set the case's head back so
that the chain is consistent again; he cannot take back what the checkpoint recorded, nor sign
a forged checkpoint. `verify_history` reads the latest one: a chain shorter than it, or whose
event at the checkpointed length has another seal, has been rolled back.

The file is text, one line per case, so it is written and read in bounded memory:

    tracker-history-checkpoint 1
    taken_at 2025-06-01T02:03:04.000000Z
    audit <seq> <seal>            (the audit log's newest entry; "audit 0 -" when empty)
    <case id> <length> <seal>
    …
    seal <HMAC of the SHA-256 of all the lines above>
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from .history_chain import moment_text
from .sealing import seal, seal_matches

MAGIC = "tracker-history-checkpoint 1"
SUFFIX = ".checkpoint"
# The signature's domain: never the payload of a history event (those are JSON arrays).
_DOMAIN = "history-checkpoint"


class CheckpointError(Exception):
    """A checkpoint that cannot be trusted: unreadable, or its signature does not match."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    taken_at: str
    heads: dict[int, tuple[int, str]]  # case id -> (length, seal of event #length)
    audit_head: tuple[int, str] | None = None  # the audit log's (seq, seal) then


def checkpoint_dir() -> Path:
    return Path(settings.HISTORY_CHECKPOINT_DIR)


def _signature(digest: str) -> str:
    return seal(_DOMAIN, digest)


def write_checkpoint(case_model: Any, *, batch: int = 5000) -> tuple[Path, int]:
    """Write the heads of every case with a history; returns the file and the number of cases.
    Written under a temporary name and renamed: a reader never sees half a checkpoint."""
    folder = checkpoint_dir()
    folder.mkdir(parents=True, exist_ok=True)
    now = timezone.now()
    name = f"history-{now:%Y%m%dT%H%M%S%f}Z"
    final, partial = folder / f"{name}{SUFFIX}", folder / f"{name}{SUFFIX}.partial"
    digest = hashlib.sha256()
    count = 0
    with partial.open("w", encoding="ascii", newline="\n") as handle:

        def put(line: str) -> None:
            text = f"{line}\n"
            digest.update(text.encode())
            handle.write(text)

        put(MAGIC)
        put(f"taken_at {moment_text(now)}")
        # Imported here: the audit app builds on this one.
        from audit.integrity import audit_head

        seq, last_seal = audit_head() or (0, "-")
        put(f"audit {seq} {last_seal}")
        heads = (
            case_model._base_manager.filter(history_length__gt=0)
            .order_by("pk")
            .values_list("pk", "history_length", "history_head")
        )
        for pk, length, head in heads.iterator(chunk_size=batch):
            put(f"{pk} {length} {head}")
            count += 1
        handle.write(f"seal {_signature(digest.hexdigest())}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, final)
    return final, count


def latest_checkpoint_path() -> Path | None:
    folder = checkpoint_dir()
    if not folder.is_dir():
        return None
    found = sorted(folder.glob(f"history-*{SUFFIX}"))
    return found[-1] if found else None


def read_checkpoint(path: Path, *, case_id: int | None = None) -> Checkpoint:
    """The checkpoint in `path` (only `case_id`'s head if given), its signature verified."""
    digest = hashlib.sha256()
    heads: dict[int, tuple[int, str]] = {}
    taken_at, signature = "", None
    audit: tuple[int, str] | None = None
    try:
        with path.open(encoding="ascii", newline="\n") as handle:
            for number, line in enumerate(handle):
                if signature is not None:
                    raise CheckpointError(f"{path}: text after the seal")
                if line.startswith("seal "):
                    signature = line[5:].strip()
                    continue
                digest.update(line.encode())
                text = line.rstrip("\n")
                if number == 0:
                    if text != MAGIC:
                        raise CheckpointError(f"{path}: not a history checkpoint")
                elif number == 1:
                    taken_at = text.removeprefix("taken_at ")
                elif text.startswith("audit "):
                    _word, seq, last_seal = text.split(" ")
                    audit = (int(seq), last_seal) if int(seq) else None
                else:
                    pk, length, head = text.split(" ")
                    if case_id is None or int(pk) == case_id:
                        heads[int(pk)] = (int(length), head)
    except (OSError, UnicodeError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable ({error})") from None
    if signature is None or not seal_matches(signature, _DOMAIN, digest.hexdigest()):
        raise CheckpointError(f"{path}: the signature does not match (forged or altered)")
    if taken_at and datetime.fromisoformat(taken_at) > timezone.now():
        raise CheckpointError(f"{path}: taken at {taken_at}, in the future")
    return Checkpoint(path, taken_at, heads, audit)
