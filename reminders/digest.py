"""The digest step: every new reminder into exactly one message (`Delivery`), one message per
addressee (a person, or a unit's group bot), channel and sweep, whatever the number of
reminders.

- A sweep's reminders are grouped only once the sweep has finished (`SweepRun.finished_at`),
  or once its heartbeat is older than the lease (`REMINDER_LEASE_SECONDS`: its process died
  mid-sweep), so a delivery that runs while a sweep is still writing never splits a
  recipient's digest in two.
- Event reminders (follow-ups, workflow notifications: no sweep) waiting when a sweep's
  digests are made join its addressee's digest; the rest are grouped as they are found:
  everything an addressee has waiting on a channel becomes one message.
- Each group is made by two set-based statements (insert the messages, attach the reminders)
  in one transaction under an advisory lock, so two digest steps never share a group and no
  reminder is ever loaded into Python: memory stays flat at a million reminders. The database
  also refuses a second message for one (sweep, channel, addressee)
  (`delivery_one_per_*_sweep`).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from .models import Delivery, DeliveryStatus, Reminder, SweepRun

_DIGEST_LOCK = 0x7265_6D69  # pg advisory lock key of the digest step ("remi")


def _digest_lock() -> None:
    """One digest step at a time, waiting its turn (the groups are set-based statements, so a
    step waiting finds the groups the other made and makes only those left). On SQLite,
    write transactions are serialised anyway."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DIGEST_LOCK])


def finished_sweeps() -> Q:
    """The sweep runs whose reminders may be grouped: finished, or abandoned."""
    stale = timezone.now() - timedelta(seconds=settings.REMINDER_LEASE_SECONDS)
    return Q(finished_at__isnull=False) | Q(beat_at__lt=stale)


# One statement: a message per (channel, addressee) among the sweep's ungrouped reminders,
# then every such reminder attached to its message. The join is on plain equality (COALESCE
# of the addressee's two columns) so PostgreSQL hashes it rather than loop over a million rows.
_GROUP_SQL = """
WITH made AS (
    INSERT INTO {delivery} (channel, recipient_id, unit_id, status, attempts, next_attempt_at,
                            last_error, errors, created_at, sweep_id)
    SELECT DISTINCT channel, recipient_id, unit_id, %s, 0, %s, '', '[]'::jsonb, %s, %s::bigint
    FROM {reminder}
    WHERE delivery_id IS NULL AND status = %s AND sweep_id {sweep}
    RETURNING id, channel, recipient_id, unit_id
),
attached AS (
    UPDATE {reminder} AS r SET delivery_id = made.id
    FROM made
    WHERE r.delivery_id IS NULL AND r.status = %s AND (r.sweep_id {sweep} OR r.sweep_id IS NULL)
      AND r.channel = made.channel
      AND COALESCE(r.recipient_id, 0) = COALESCE(made.recipient_id, 0)
      AND COALESCE(r.unit_id, 0) = COALESCE(made.unit_id, 0)
    RETURNING r.id
)
SELECT (SELECT count(*) FROM made), (SELECT count(*) FROM attached)
"""


def _group(sweep_id: int | None) -> int:
    """Messages made of one sweep's ungrouped reminders (or of event reminders, for None)."""
    if connection.vendor != "postgresql":
        return _group_portable(sweep_id)
    pending = DeliveryStatus.PENDING
    now = timezone.now()
    query = _GROUP_SQL.format(
        delivery=Delivery._meta.db_table,
        reminder=Reminder._meta.db_table,
        sweep="IS NULL" if sweep_id is None else "= %s",
    )
    which = [] if sweep_id is None else [sweep_id]
    params = [pending, now, now, sweep_id, pending, *which, pending, *which]
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        made, _attached = cursor.fetchone()
    return int(made)


def _group_portable(sweep_id: int | None) -> int:
    """The same groups, one addressee at a time (SQLite, for development databases)."""
    waiting = Reminder.objects.filter(delivery__isnull=True, status=DeliveryStatus.PENDING)
    keys = (
        waiting.filter(sweep_id=sweep_id)
        .order_by()
        .values_list("channel", "recipient_id", "unit_id")
        .distinct()
    )
    made = 0
    for channel, recipient_id, unit_id in keys.iterator():
        message = Delivery.objects.create(
            channel=channel, recipient_id=recipient_id, unit_id=unit_id, sweep_id=sweep_id
        )
        waiting.filter(
            Q(sweep_id=sweep_id) | Q(sweep__isnull=True),
            channel=channel,
            recipient_id=recipient_id,
            unit_id=unit_id,
        ).update(delivery=message)
        made += 1
    return made


def _ready(sweep_id: int | None) -> bool:
    """Whether a sweep's reminders may be grouped now. The run's row is locked, as each step
    of the sweep locks it to write its reminders: a sweep taken for dead here is marked
    finished, and finds it so before writing anything more (`sweep_step_begin`)."""
    if sweep_id is None:
        return True
    run = SweepRun.objects.select_for_update().filter(finished_sweeps(), pk=sweep_id).first()
    if run is None:
        return False
    if run.finished_at is None:
        SweepRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())
    return True


def _sweeps_waiting() -> list[int | None]:
    """The sweeps (None: events) with ungrouped reminders: a few ids, from the partial index."""
    waiting = (
        Reminder.objects.filter(delivery__isnull=True, status=DeliveryStatus.PENDING)
        .order_by("sweep_id")
        .values_list("sweep_id", flat=True)
        .distinct()
    )
    # The sweeps first: their digests take in the event reminders waiting for the same people.
    return sorted(waiting, key=lambda pk: (pk is None, pk or 0))


def group_new_reminders() -> int:
    """Put every groupable new reminder into a message; the number of messages made."""
    made = 0
    for sweep_id in _sweeps_waiting():
        with transaction.atomic():
            _digest_lock()
            if _ready(sweep_id):
                made += _group(sweep_id)
    return made


# --- The sweep's side of the handshake ------------------------------------------------------


def sweep_begin() -> SweepRun:
    return SweepRun.objects.create()


def sweep_step_begin(run: SweepRun) -> bool:
    """Called in the transaction of each step of the sweep, before it writes reminders: a
    heartbeat, and the run's row locked until the step commits. False: the digest step took
    this run for dead and grouped it; the sweep stops (the next one reminds the rest)."""
    return bool(
        SweepRun.objects.filter(pk=run.pk, finished_at__isnull=True).update(beat_at=timezone.now())
    )


def sweep_end(run: SweepRun) -> None:
    SweepRun.objects.filter(pk=run.pk, finished_at__isnull=True).update(finished_at=timezone.now())


def most_messages_per_digest(sweep_ids: list[int] | None = None) -> int:
    """The most messages any (sweep, channel, addressee) has, counted from the reminders'
    side (the bench's check; 1 is a digest, 0 nothing yet)."""
    rows = Reminder.objects.filter(sweep__isnull=False, delivery__isnull=False)
    if sweep_ids is not None:
        rows = rows.filter(sweep_id__in=sweep_ids)
    counted = (
        rows.order_by()
        .values("sweep_id", "channel", "recipient_id", "unit_id")
        .annotate(messages=Count("delivery_id", distinct=True))
    )
    return int(counted.aggregate(most=Max("messages"))["most"] or 0)
