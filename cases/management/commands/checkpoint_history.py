"""Write a signed checkpoint of every case's history chain head (`cases.history_checkpoint`).

    python manage.py checkpoint_history

Run daily by beat, and on demand (before a risky operation, after `seal_history`). The file
goes to HISTORY_CHECKPOINT_DIR, outside the database; `verify_history` compares with the latest.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from cases.history_checkpoint import write_checkpoint
from cases.models import Case


class Command(BaseCommand):
    help = "Write the signed chain heads of all cases to HISTORY_CHECKPOINT_DIR."

    def handle(self, *args: Any, **options: Any) -> None:
        path, count = write_checkpoint(Case)
        self.stdout.write(self.style.SUCCESS(f"Checkpoint of {count} cases written to {path}."))
