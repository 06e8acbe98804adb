"""Celery tasks of the cases app: upkeep of the completion roll-ups (`cases.tally`)."""

from __future__ import annotations

from datetime import date, timedelta

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
    # Yesterday, and the month ends the dashboard's trend shows.
    days = trend_days(today)
    for day in days:
        tally.ensure_snapshot(day)
    return f"tally {today.isoformat()}, {len(days)} snapshots ({timezone.now().isoformat()})"


def trend_days(today: date) -> list[date]:
    from .dashboard import TREND_POINTS, month_ends

    yesterday = today - timedelta(days=1)
    return sorted({yesterday, *(d for d in month_ends(today, TREND_POINTS) if d < today)})


@shared_task(name="cases.build_snapshots")
def build_snapshots(days: list[str]) -> int:
    """Build the roll-up snapshots of past days a page asked for (ISO dates)."""
    if not tally.available():
        return 0
    today = timezone.localdate()
    wanted = [date.fromisoformat(day) for day in days]
    for day in wanted:
        if day < today:
            tally.ensure_snapshot(day)
    return len(wanted)


@shared_task(name="cases.checkpoint_history")
def checkpoint_history() -> str:
    """The daily signed checkpoint of the history's chain heads, outside the database."""
    from .history_checkpoint import write_checkpoint
    from .models import Case

    path, count = write_checkpoint(Case)
    return f"checkpoint of {count} cases: {path.name}"
