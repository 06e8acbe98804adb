"""Verify the hash chain of the case history (see `cases.history_chain`).

    python manage.py verify_history [--case ID] [--evidence] [--show 20]

Reads every case and its events in batches of cases (bounded memory for any size), recomputes
each event's hash and checks the links and each case's head. Prints a count when all is
intact; otherwise lists the first broken cases with the reason (edited, deleted, reordered,
head mismatch) and exits with status 1. `--evidence` also reads every evidence file and checks
it against the size and SHA-256 recorded when it was uploaded (after a restore: the files
came back with the database).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.history_chain import Break, ChainChecker, iter_cases
from cases.models import Case, CaseEvent, Evidence


class Command(BaseCommand):
    help = (
        "Verify the tamper-evident case history: recompute every event's hash, check each "
        "event names its predecessor and each case's head. Exits non-zero on any break."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", type=int, default=None, help="Verify this case only.")
        parser.add_argument(
            "--evidence",
            action="store_true",
            help="Also check every evidence file against its recorded size and SHA-256.",
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
        cases = events = broken = 0
        breaks: list[Break] = []
        checker = ChainChecker()
        for pk, head, length, rows in iter_cases(
            Case, CaseEvent, batch=max(1, options["batch_size"]), case_id=case_id
        ):
            cases += 1
            events += len(rows)
            problem = checker.check(pk, head, length, rows)
            if problem is not None:
                broken += 1
                if len(breaks) < show:
                    breaks.append(problem)
                    self.stderr.write(str(problem))
        failures: list[str] = []
        if broken:
            first = f": {breaks[0]}" if breaks else ""
            failures.append(
                f"History chain broken in {broken} of {cases} cases ({events} events read){first}"
            )
        summary = f"History intact: {cases} cases, {events} events verified"
        if options["evidence"]:
            files, bad = self._check_evidence(case_id, show)
            if bad:
                failures.append(f"Evidence files missing or altered: {bad} of {files}")
            summary += f"; {files} evidence files verified"
        if failures:
            raise CommandError(". ".join(failures))
        seconds = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"{summary} in {seconds:.1f} s."))

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
