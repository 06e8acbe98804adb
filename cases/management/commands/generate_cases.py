"""Synthetic scale data (the `synthetic` package does the work):

    python manage.py generate_cases --cases 10000 --seed 1 [--today 2025-06-30]
    python manage.py generate_cases --cases 1000000 --seed 1 --bench [--jobs N] [--force]
        [--keep-indexes]

A province (“合成省（种子S）”) of 11 cities and about 110 county-level areas with their
commissions and departments, a few users, inspections per city and year, and N cases (about
10% of problems with items) in every workflow state, with the history the services would have
written, sealed. Deterministic for --seed and --today. Refused, writing nothing, if the seed's
province (or its codes or user names) already exists: use another --seed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from synthetic.bench import MAX_JOBS, WORKERS_FROM
from synthetic.run import Options, generate


class Command(BaseCommand):
    help = (
        "Generate synthetic scale data: a province (“合成省（种子S）”) of units, users, "
        "inspections and N cases in every workflow state with their sealed history, "
        "deterministic for --seed and --today. Refuses, writing nothing, if the seed has been "
        "generated in this database. Written with bulk_create, as the services would write "
        "the rows; --bench loads the same rows fast (PostgreSQL COPY from worker processes) "
        "for the scale benchmark, and is refused with debug off unless --force. --bench "
        "loads into a database without cases and without other sessions, dropping the case "
        "tables' secondary indexes (never a constraint) and building them again within the "
        "load's transaction, where it checks the foreign keys once over the loaded tables "
        "rather than row by row; --keep-indexes loads with every index in place and every "
        "trigger firing, into any database. No other session ever sees the tables without "
        "their indexes, nor a row before its checks."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cases", type=int, default=10_000, help="Number of cases, items included (10000)."
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="The day YYYY-MM-DD every date derives from (default today).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=5000,
            help="Cases per batch written (default 5000; whole blocks, so a batch may hold more).",
        )
        parser.add_argument(
            "--bench",
            action="store_true",
            help="Bench mode, for scale and test databases (PostgreSQL): the same rows, loaded "
            "with COPY from worker processes. Refused with DJANGO_DEBUG off unless --force.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="With --bench: run even with DJANGO_DEBUG off (a scale or staging database).",
        )
        parser.add_argument(
            "--keep-indexes",
            action="store_true",
            help="With --bench: load with every index in place (slower), into a database that "
            "may have cases or other sessions. Without it, --bench refuses such a database, and "
            "drops and rebuilds the case tables' secondary indexes (never a constraint) within "
            "the load's transaction.",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=None,
            help="With --bench: worker processes drawing the cases while the command writes "
            f"them; 1 draws them in the command's process. Default: one per CPU (at most "
            f"{MAX_JOBS}) from {WORKERS_FROM} cases, 1 below. The content does not depend on it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["cases"] < 0:
            raise CommandError("--cases must not be negative.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be positive.")
        if options["jobs"] is not None and options["jobs"] < 1:
            raise CommandError("--jobs must be positive.")
        if not options["bench"] and (
            options["jobs"] is not None or options["force"] or options["keep_indexes"]
        ):
            raise CommandError("--jobs, --force and --keep-indexes go with --bench.")
        result = generate(
            Options(
                cases=options["cases"],
                seed=options["seed"],
                today=options["today"] or timezone.localdate(),
                batch=options["batch_size"],
                bench=options["bench"],
                force=options["force"],
                jobs=options["jobs"],
                keep_indexes=options["keep_indexes"],
            ),
            self.stdout.write,
        )
        counts = result.counts
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated “{result.root_name}”: {counts['units']} units, "
                f"{counts['users']} users, {counts['inspections']} inspections, "
                f"{counts['cases']} cases, {counts['events']} events, "
                f"{counts['checkpoints']} checklist points in {result.seconds:.1f} s."
            )
        )
