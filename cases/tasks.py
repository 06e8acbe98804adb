"""Celery tasks of the cases app: upkeep of the completion roll-ups (`cases.tally`)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import tally


@shared_task(name="cases.maintain_tally")
def maintain_tally() -> str:
    """Today's lights, deltas added up, the kept days' snapshots built: so that no reader pays
    for it (readers never build; they count what is small and say "not built yet" otherwise).
    The tally is rebuilt on a new day and when DUE_SOON_DAYS, TIME_ZONE or the site's calendar
    days (节假日与调休) differ from what it was built with (the triggers then count by the new
    window and working-day boundaries too). Idempotent; a missed or
    repeated run only builds later."""
    if not tally.available():
        return "skipped"
    today = tally.ensure_current()
    tally.compact()
    pruned = tally.prune_snapshots(today)
    built = tally.build_missing_snapshots(today, limit=settings.TALLY_SNAPSHOT_BUILD_PER_RUN)
    return (
        f"tally {today.isoformat()}, {len(built)} snapshots built, {pruned} rows pruned"
        f" ({timezone.now().isoformat()})"
    )


@shared_task(name="cases.checkpoint_history")
def checkpoint_history() -> str:
    """The daily signed checkpoint of the history's chain heads, outside the database."""
    from .history_checkpoint import write_checkpoint
    from .models import Case

    path, count = write_checkpoint(Case)
    return f"checkpoint of {count} cases: {path.name}"
