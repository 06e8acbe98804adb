"""Seal a history written before the key (version 1, unkeyed) with HISTORY_SEAL_KEY.

    python manage.py seal_history [--dry-run]

Run once by the database owner after upgrading (it disables the append-only trigger for its
own transaction, which only the table's owner may do), then `checkpoint_history`. For every
case it verifies the chain as it stands, accepting rows in the old unkeyed form only before
the first sealed one, and re-seals the chain from its first unkeyed row on; a case whose chain
does not verify in either form is not sealed but listed, and the command exits 1: sealing it
would launder the tampering. Idempotent: a fully sealed history is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from cases.history_verify import CaseChain, ChainChecker, iter_cases
from cases.models import Case, CaseEvent, Evidence
from cases.record_guards import trigger_name
from cases.sealing import seal, seal_matches

UPDATE_EVENTS = """
UPDATE cases_caseevent AS e SET prev_hash = v.prev_hash, hash = v.hash
FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[]) AS v(id, prev_hash, hash)
WHERE e.id = v.id
"""


class Command(BaseCommand):
    help = (
        "Verify the unkeyed (version 1) history of an upgraded database and seal it with "
        "HISTORY_SEAL_KEY. Run once, as the database owner, after upgrading."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Verify and count, write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "Only PostgreSQL databases are upgraded in place; rebuild the SQLite demo "
                "(make demo) instead."
            )
        checker = ChainChecker(timezone.now())
        sealed = events = 0
        refused: list[str] = []
        trigger = trigger_name("cases.CaseEvent:append_only")
        with transaction.atomic():
            with connection.cursor() as cursor:
                # No writer appends to a chain while it is re-sealed.
                cursor.execute("LOCK TABLE cases_caseevent IN EXCLUSIVE MODE")
                if not options["dry_run"]:
                    cursor.execute(f"ALTER TABLE cases_caseevent DISABLE TRIGGER {trigger}")
            for chain in iter_cases(Case, CaseEvent, Evidence):
                start, problem = _first_unkeyed(checker, chain)
                if problem:
                    refused.append(f"case {chain.case_id}: {problem}")
                    continue
                if start is None:
                    continue
                updates = _reseal(checker, chain, start)
                sealed += 1
                events += len(updates[0])
                if not options["dry_run"]:
                    _write(chain.case_id, updates)
            if not options["dry_run"]:
                with connection.cursor() as cursor:
                    cursor.execute(f"ALTER TABLE cases_caseevent ENABLE TRIGGER {trigger}")
        for line in refused[:50]:
            self.stderr.write(line)
        verb = "would seal" if options["dry_run"] else "sealed"
        summary = f"{verb} {events} events of {sealed} cases"
        if refused:
            raise CommandError(
                f"{len(refused)} cases not sealed, their history does not verify ({summary}): "
                f"{refused[0]}"
            )
        self.stdout.write(self.style.SUCCESS(f"History {summary}."))


def _first_unkeyed(checker: ChainChecker, chain: CaseChain) -> tuple[int | None, str]:
    """(index of the first unkeyed row or None, "") when the chain verifies with its unkeyed
    rows all before its sealed ones; (None, why) otherwise."""
    prev, first, sealed_seen = "", None, False
    for index, row in enumerate(chain.rows):
        seq, prev_hash, stored = row[2], row[3], row[-1]
        if seq != index + 1 or prev_hash != prev:
            return None, f"event #{index + 1} missing or out of order"
        if seal_matches(stored, prev, checker.payload(row, chain.evidence)):
            # (A sealed row after unkeyed ones was written after the upgrade, linked to its
            # unkeyed predecessor: it is re-sealed with them.)
            sealed_seen = True
        elif stored == checker.unkeyed(row):
            if sealed_seen:
                return None, f"event #{seq}: an unkeyed row after a sealed one"
            first = index if first is None else first
        else:
            return None, f"event #{seq} does not match its hash"
        prev = stored
    if len(chain.rows) != chain.length or prev != chain.head:
        return None, "the case's head does not match its last event"
    return first, ""


def _reseal(
    checker: ChainChecker, chain: CaseChain, start: int
) -> tuple[list[int], list[str], list[str]]:
    ids: list[int] = []
    prevs: list[str] = []
    seals: list[str] = []
    prev = chain.rows[start - 1][-1] if start else ""
    for row in chain.rows[start:]:
        new = seal(prev, checker.payload(row, chain.evidence))
        ids.append(row[0])
        prevs.append(prev)
        seals.append(new)
        prev = new
    return ids, prevs, seals


def _write(case_id: int, updates: Sequence[list[Any]]) -> None:
    ids, prevs, seals = updates
    with connection.cursor() as cursor:
        cursor.execute(UPDATE_EVENTS, [ids, prevs, seals])
    Case._base_manager.filter(pk=case_id).update(history_head=seals[-1])
