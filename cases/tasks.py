"""Celery tasks of the cases app: upkeep of the completion roll-ups (`cases.tally`)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from . import tally


@shared_task(name="cases.maintain_tally")
def maintain_tally() -> str:
    """Today's lights, deltas added up, yesterday's snapshot built: so that no reader pays for
    it. Idempotent; a missed or repeated run costs nothing (readers do the same on demand)."""
    if not tally.available():
        return "skipped"
    today = tally.ensure_current()
    tally.compact()
    tally.ensure_snapshot(today - timedelta(days=1))
    return f"tally {today.isoformat()} ({timezone.now().isoformat()})"
