"""Verify the sealed case history (see `cases.history_chain` and `cases.history_verify`).

    python manage.py verify_history [--case ID] [--evidence] [--checkpoint FILE] [--show 20]

Reads every case and its events in batches of cases (bounded memory for any size) and checks,
per case: every event's keyed seal and link and the case's head; the timestamps (never
decreasing along the chain, never in the future); the case row's current state against its
events; and its chain against the latest signed checkpoint in HISTORY_CHECKPOINT_DIR (written
by `checkpoint_history`), which catches a rollback of the newest events done consistently
inside the database. Prints a count when all is intact; otherwise lists the first broken cases
with the reason and exits with status 1. `--evidence` also reads every evidence file and checks
it against the size and SHA-256 recorded when it was uploaded (after a restore: the files came
back with the database). Further checks (the audit log's chain) register in `EXTRA_CHECKERS`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cases.history_checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_dir,
    latest_checkpoint_path,
    read_checkpoint,
)
from cases.history_verify import (
    DELETED,
    ROLLED_BACK,
    Break,
    ChainChecker,
    checkpoint_break,
    iter_cases,
    state_break,
)
from cases.models import Case, CaseEvent, Evidence

# More chains to verify with the history, each called with the command, its options and the
# checkpoint in force (None without one), returning its failures (empty: intact).
Checker = Callable[[BaseCommand, dict[str, Any], Checkpoint | None], list[str]]


def audit_log_checker(
    command: BaseCommand, options: dict[str, Any], checkpoint: Checkpoint | None
) -> list[str]:
    """The audit log's chain, and that it still holds the entry the checkpoint recorded (a
    deleted tail or an emptied table is caught only that way)."""
    if options["case"] is not None:
        return []  # one case's check: the log is not a case's
    from audit.integrity import verify_audit

    problems = verify_audit(checkpoint=checkpoint.audit_head if checkpoint else None)
    for problem in problems[: max(0, options["show"])]:
        command.stderr.write(str(problem))
    return [f"Audit log broken: {problems[0]}"] if problems else []


EXTRA_CHECKERS: list[Checker] = [audit_log_checker]


class Command(BaseCommand):
    help = (
        "Verify the tamper-evident case history: every event's keyed seal and link, each "
        "case's head, timestamps, the case rows against their events and the latest signed "
        "checkpoint. Exits non-zero on any break."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", type=int, default=None, help="Verify this case only.")
        parser.add_argument(
            "--evidence",
            action="store_true",
            help="Also check every evidence file against its recorded size and SHA-256.",
        )
        parser.add_argument(
            "--checkpoint",
            default=None,
            help="Compare with this checkpoint file (default: the latest in "
            "HISTORY_CHECKPOINT_DIR).",
        )
        parser.add_argument("--show", type=int, default=20, help="Problems to list (default 20).")
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Cases read per batch (default 1000)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        case_id, show = options["case"], max(0, options["show"])
        if case_id is not None and not Case._base_manager.filter(pk=case_id).exists():
            raise CommandError(f"No case with id {case_id}.")
        failures: list[str] = []
        checkpoint = self._checkpoint(options["checkpoint"], case_id, failures)
        cases, events, breaks = self._check_chains(options, checkpoint)
        broken = len(breaks)
        for problem in breaks[:show]:
            self.stderr.write(str(problem))
        if breaks:
            failures.append(
                f"History chain broken in {broken} of {cases} cases ({events} events read)"
                f": {breaks[0]}"
            )
        summary = f"History intact: {cases} cases, {events} events verified"
        if checkpoint is not None:
            summary += f", checkpoint {checkpoint.path.name} matched"
        unchained = self._unchained_evidence(case_id, show)
        if unchained:
            failures.append(f"Evidence rows in no history: {unchained}")
        if options["evidence"]:
            files, bad = self._check_evidence(case_id, show)
            if bad:
                failures.append(f"Evidence files missing or altered: {bad} of {files}")
            summary += f"; {files} evidence files verified"
        for checker in EXTRA_CHECKERS:
            failures.extend(checker(self, options, checkpoint))
        if failures:
            raise CommandError(". ".join(failures))
        seconds = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"{summary} in {seconds:.1f} s."))

    def _checkpoint(
        self, path: str | None, case_id: int | None, failures: list[str]
    ) -> Checkpoint | None:
        found = Path(path) if path else latest_checkpoint_path()
        if found is None:
            self.stderr.write(
                f"No checkpoint in {checkpoint_dir()}: a rollback of the newest events of a "
                "case cannot be detected (run manage.py checkpoint_history)."
            )
            return None
        try:
            return read_checkpoint(found, case_id=case_id)
        except CheckpointError as error:
            failures.append(f"Checkpoint refused: {error}")
            return None

    def _check_chains(
        self, options: dict[str, Any], checkpoint: Checkpoint | None
    ) -> tuple[int, int, list[Break]]:
        cases = events = 0
        breaks: list[Break] = []
        checker = ChainChecker(timezone.now())
        heads = checkpoint.heads if checkpoint is not None else {}
        seen: set[int] = set()
        for chain in iter_cases(
            Case,
            CaseEvent,
            Evidence,
            batch=max(1, options["batch_size"]),
            case_id=options["case"],
        ):
            cases += 1
            events += len(chain.rows)
            seen.add(chain.case_id)
            problem = (
                checker.check(chain)
                or checkpoint_break(chain, heads.get(chain.case_id))
                or state_break(chain)
            )
            if problem is None and not chain.rows:
                # Every case is registered by an event: a case without one lost its history.
                problem = Break(chain.case_id, DELETED, None, "the case has no history at all")
            if problem is not None:
                breaks.append(problem)
        for pk in sorted(set(heads) - seen):
            length = heads[pk][0]
            detail = f"checkpointed with {length} events, the case is gone"
            breaks.append(Break(pk, ROLLED_BACK, None, detail))
        return cases, events, breaks

    def _unchained_evidence(self, case_id: int | None, show: int) -> int:
        rows = Evidence._base_manager.filter(event=None)
        if case_id is not None:
            rows = rows.filter(case_id=case_id)
        found = list(rows.values_list("pk", "case_id")[: show + 1])
        for pk, case in found[:show]:
            self.stderr.write(f"case {case}: evidence {pk} belongs to no history event")
        return len(found) if len(found) <= show else rows.count()

    def _check_evidence(self, case_id: int | None, show: int) -> tuple[int, int]:
        storage = Evidence._meta.get_field("file").storage  # type: ignore[attr-defined]
        rows = Evidence._base_manager.order_by("pk")
        if case_id is not None:
            rows = rows.filter(case_id=case_id)
        files = bad = 0
        for pk, case, name, size, sha256 in rows.values_list(
            "pk", "case_id", "file", "size", "sha256"
        ).iterator(chunk_size=2000):
            files += 1
            try:
                with storage.open(name, "rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256")
                    found = handle.tell()
            except FileNotFoundError:
                problem = "missing"
            else:
                problem = "" if (found, digest.hexdigest()) == (size, sha256) else "altered"
            if problem:
                bad += 1
                if bad <= show:
                    self.stderr.write(f"case {case}: evidence {pk} {problem} ({name})")
        return files, bad
