"""Generating a province of synthetic cases, in one transaction: everything or nothing.

1. `synthetic.province` draws and writes the units, people and inspections of the seed;
2. `synthetic.drawing` draws the cases block by block (`synthetic.life`: their histories);
3. the one writer (`synthetic.writer`) writes them with `bulk_create`, or, in the bench mode
   (`synthetic.bench`, `synthetic.workers`), the same rows with COPY from worker processes,
   into an empty database the case tables' secondary indexes set aside and built again after
   the load, in its transaction (`synthetic.indexes`), unless `keep_indexes`; there, the
   foreign keys are checked in bulk after the load rather than row by row, and the roll-up
   triggers left to the recount (`synthetic.checks`);
4. on PostgreSQL the completion roll-ups are recounted and the tables analysed.

Everything is dated relative to `today`, so one seed and one day give the same content (codes,
titles, statuses, deadlines, unit names, histories) in any database, in either mode, with any
number of workers and any batch size; only the ids (and so the seals) differ. Every moment lies
before the start of `today`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connection, transaction

from cases import tally
from cases.models import Inspection

from . import checks, indexes
from .bench import WORKERS_FROM, batches, copy_block, require_bench_database, send
from .clock import Clock
from .drawing import Drawer
from .province import Province
from .workers import default_jobs, formatted_in_workers
from .writer import BulkWriter, reserve_case_ids


@dataclass(frozen=True)
class Options:
    cases: int
    seed: int
    today: date
    batch: int = 5000
    bench: bool = False
    force: bool = False
    jobs: int | None = None  # bench mode only
    keep_indexes: bool = False  # bench mode only: no index set aside (see synthetic.indexes)


@dataclass
class Result:
    root_name: str
    counts: dict[str, int]
    seconds: float


def generate(options: Options, log: Callable[[str], Any]) -> Result:
    """Generate the province of `options.seed` with `options.cases` cases; `log` gets a line
    of progress after each batch."""
    started = time.monotonic()
    if options.bench:
        require_bench_database(force=options.force)
    clock = Clock(options.today)
    province = Province(seed=options.seed, clock=clock, total=options.cases)
    counts = {"cases": 0, "events": 0, "checkpoints": 0}

    def progress() -> None:
        log(
            f"  {counts['cases']:>9} / {options.cases} cases, {counts['events']:>10} "
            f"events ({time.monotonic() - started:.1f} s)"
        )

    with transaction.atomic():
        set_aside = _take_tables(options)
        feeds = province.build()
        drawer = Drawer(seed=options.seed, clock=clock, feeds=feeds, inspectors=province.inspectors)
        if options.bench:
            _load_bench(drawer, options, counts, progress, log)
        else:
            _load(drawer, options, counts, progress)
        if set_aside:
            with connection.cursor() as cursor:
                indexes.rebuild(cursor, set_aside, log)
        Inspection.objects.bulk_update(
            [feed.inspection for feed in feeds], ["last_case_number"], batch_size=1000
        )
        if tally.available():
            # The completion roll-ups, counted once over everything; in the load's
            # transaction, so no one ever reads roll-ups without the new cases.
            phase = time.monotonic()
            tally.refresh()
            log(f"  roll-ups recounted ({time.monotonic() - phase:.1f} s)")
    if connection.vendor == "postgresql":
        # Fresh planner statistics for tables that just grew.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE cases_case, cases_caseevent, cases_checkpoint")
    return Result(
        root_name=province.root_name,
        counts={**province.counts, **counts},
        seconds=time.monotonic() - started,
    )


def _take_tables(options: Options) -> list[indexes.Index]:
    """The bench mode into an empty database: the case tables locked for the transaction and
    their secondary indexes dropped, to be built again before it ends (`synthetic.indexes`)."""
    if not options.bench or options.keep_indexes:
        return []
    with connection.cursor() as cursor:
        indexes.take_tables(cursor)
        return indexes.set_aside(cursor)


def _bulk_checks(options: Options, log: Callable[[str], Any]) -> bool:
    """Whether the bench load checks its foreign keys in bulk (`synthetic.checks`): only into
    the empty tables `_take_tables` holds, and only if `checks.usable`."""
    if options.keep_indexes:
        return False
    with connection.cursor() as cursor:
        refused = checks.usable(cursor)
    if refused:
        log(f"  foreign keys checked row by row: {refused}")
    return refused is None


def _load(
    drawer: Drawer, options: Options, counts: dict[str, int], progress: Callable[[], None]
) -> None:
    """The default: `BulkWriter`, in batches drawn in this process."""
    writer = BulkWriter(drawer.clock)
    for chunk in drawer.chunks(reserve_case_ids(options.cases), options.batch):
        events, points = writer.write(chunk)
        counts["cases"] += len(chunk)
        counts["events"] += events
        counts["checkpoints"] += points
        progress()


def _load_bench(
    drawer: Drawer,
    options: Options,
    counts: dict[str, int],
    progress: Callable[[], None],
    log: Callable[[str], Any],
) -> None:
    """The bench mode: ids reserved, blocks formatted here (one job) or by worker processes,
    sent with COPY in order. Into the tables `_take_tables` holds, without the per-row
    triggers, the foreign keys checked in bulk after the load (`synthetic.checks`); otherwise
    checked after each COPY, then deferred to the commit again (Django's default)."""
    jobs = options.jobs or (default_jobs() if options.cases >= WORKERS_FROM else 1)
    bulk_checks = _bulk_checks(options, log)
    with connection.cursor() as cursor:
        if bulk_checks:
            checks.begin(cursor)
        else:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    blocks = drawer.blocks(reserve_case_ids(options.cases))
    texts = (
        formatted_in_workers(drawer, blocks, jobs=jobs, batch=options.batch)
        if jobs > 1
        else (copy_block(drawer, block) for block in blocks)
    )
    try:
        for batch in batches(texts, options.batch):
            send(batch, counts)
            progress()
    finally:
        texts.close()  # stops the workers, also on failure
    with connection.cursor() as cursor:
        if bulk_checks:
            checks.end(cursor, log)
        else:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
