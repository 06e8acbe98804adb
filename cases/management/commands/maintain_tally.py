"""Bring the completion roll-ups up to date now, as the beat task does every ten minutes:
today's lights, deltas added up, yesterday's and the trend's month-end snapshots built.

    python manage.py maintain_tally

Run it after a bulk load (generate_cases, a restore) so that no reader pays for the first build.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from cases.tasks import maintain_tally


class Command(BaseCommand):
    help = "Update the completion roll-ups and build the snapshots the dashboard needs."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        result = maintain_tally()
        self.stdout.write(f"{result} in {time.monotonic() - started:.1f} s")
