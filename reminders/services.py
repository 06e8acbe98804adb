"""Every write of the reminders app: the sweep that creates reminders, the digest step and
the delivery that claims and sends messages, and marking notifications read.

Exactly once, as far as it can be had:
- Creating a reminder is an INSERT … ON CONFLICT DO NOTHING on its unique key (case, kind,
  window, addressee, channel): repeated or concurrent sweeps, or two beat schedulers, create
  each reminder once.
- The digest step (`reminders.digest`) puts each new reminder into exactly one message
  (`Delivery`): one per addressee, channel and sweep, once the sweep has finished.
- A sender claims a message (FOR UPDATE SKIP LOCKED, then a lease `claimed_until` and a fresh
  `claim_token`) and sends it outside any transaction; it records the outcome only if the token
  is still its own (compare-and-set). A sender killed mid-send leaves the lease to expire and
  the message is sent by the next one. The only duplicate left is a sender dying between the
  mail server (or bot) accepting a message and the database recording it; in-app
  notifications are written in the same transaction as the outcome, so they are exact.
- A failed send is retried with exponential back-off; each error is recorded on the message.

The reminders of things that happen (a follow-up, a workflow move, a reply) are written by
`reminders.events`, in the transaction of the write they tell of.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cases import selectors as case_selectors
from cases.errors import NotFound
from cases.models import Case, CaseEvent, User
from cases.workflow import DONE_STATES, OPEN_STATES, Role, Status

from . import channels, selectors, task_deadlines
from .calendar import calendar_for
from .digest import group_new_reminders, sweep_begin, sweep_end, sweep_step_begin
from .models import Channel, Delivery, DeliveryStatus, Notification, Reminder, UnitWebhook
from .rules import (
    WORKFLOW_KINDS,
    Policy,
    event_is_stale,
    reminder_due,
    statuses_to_remind,
    window_deadline,
)

logger = logging.getLogger(__name__)

_CHUNK = 5000  # cases per sweep step: a transaction, and a constant number of queries
_KEEP_ERRORS = 10


@dataclass
class SweepReport:
    cases: int = 0  # cases due for a reminder today, new or already reminded
    reminders: int = 0  # reminder rows written (or found already written by another sweep)
    unaddressed: int = 0  # cases due for a reminder that nobody could receive
    unaddressed_cases: list[int] = field(default_factory=list)  # the first few, for the log

    def __str__(self) -> str:
        return f"{self.cases} cases due, {self.reminders} reminders, {self.unaddressed} unaddressed"


@dataclass
class DeliveryReport:
    messages: int = 0  # messages (digests) made of new reminders
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return (
            f"{self.messages} new messages; {self.sent} sent, {self.retrying} to retry, "
            f"{self.failed} failed, {self.cancelled} cancelled"
        )


def enabled_channels() -> set[str]:
    return set(settings.REMINDER_CHANNELS) & set(Channel.values)


# --- Who receives a reminder -------------------------------------------------------------


class Addressees:
    """Recipients of a case's reminders, with the lookups cached for one sweep.

    - The case's owner (责任人) if active; otherwise the inspectors (整改联络员) of the
      responsible unit itself, or if it has none, of its nearest ancestor that has some (an
      inspector sees everything under their unit, so they can act on it). Not the whole
      subtree: a department's sub-units have their own cases and would drown in their
      parent's reminders.
    - An escalation adds the supervisors of the case's supervising unit.
    - Only people who may see the case (cases.selectors.visible_cases), so a restricted
      ledger never reaches an inspector and a link never leads to "not found".
    - Group bots: the responsible unit's, plus the supervising unit's on escalation, if
      configured and enabled; never for a restricted ledger (a group is not a person).
    """

    def __init__(self) -> None:
        self._inspectors: dict[int, list[User]] = {}
        self._supervisors: dict[int, list[User]] = {}
        self._webhook_units: set[int] | None = None
        # Each person's scope compiled once (`_who_may_see`), by person id.
        self.scopes: dict[int, tuple[str, tuple[Any, ...]] | None] = {}
        self._units: dict[int, Any] = {}
        self._inspections: dict[int, Any] = {}

    def attach(self, cases: list[Case]) -> None:
        """Give the cases of a sweep's step their responsible units and inspections, each
        read once a sweep (one query for those not read yet) and shared by its cases."""
        for cache, name, read in (
            (self._units, "responsible_unit", selectors.sweep_units),
            (self._inspections, "inspection", selectors.sweep_inspections),
        ):
            missing = {getattr(case, f"{name}_id") for case in cases} - cache.keys()
            if missing:
                cache.update(read(missing))
            for case in cases:
                setattr(case, name, cache[getattr(case, f"{name}_id")])

    def _users(self) -> Any:
        return User.objects.filter(is_active=True).select_related("unit", "unit__parent")

    def inspectors(self, case: Case) -> list[User]:
        unit = case.responsible_unit
        if unit.pk not in self._inspectors:
            self.load_inspectors([case])
        return self._inspectors[unit.pk]

    def load_inspectors(self, cases: Iterable[Case]) -> None:
        """Read the inspectors of the responsible units of `cases` not read yet: one query
        for them all (a sweep's step asks for a few hundred units)."""
        chains = {
            case.responsible_unit_id: case.responsible_unit.lineage
            for case in cases
            if case.responsible_unit_id not in self._inspectors
        }
        if not chains:
            return
        found: dict[int, list[User]] = defaultdict(list)
        wanted = {pk for chain in chains.values() for pk in chain}
        for user in self._users().filter(unit_id__in=wanted, role=Role.INSPECTOR).order_by("pk"):
            found[user.unit_id].append(user)
        for unit_id, chain in chains.items():
            self._inspectors[unit_id] = next((found[pk] for pk in reversed(chain) if found[pk]), [])

    def supervisors(self, case: Case) -> list[User]:
        unit_id = case.supervising_unit_id
        if unit_id not in self._supervisors:
            self._supervisors[unit_id] = list(
                self._users().filter(unit_id=unit_id, role=Role.SUPERVISOR).order_by("pk")
            )
        return self._supervisors[unit_id]

    def people(self, case: Case, kind: str) -> list[User]:
        owner = case.owner
        people = [owner] if owner is not None and owner.is_active else self.inspectors(case)
        if kind == Reminder.Kind.ESCALATION:
            people = people + [s for s in self.supervisors(case) if s not in people]
        return people

    def webhook_units(self, case: Case, kind: str) -> list[int]:
        if case.inspection.restricted:
            return []
        if self._webhook_units is None:
            self._webhook_units = set(
                UnitWebhook.objects.filter(enabled=True).values_list("unit_id", flat=True)
            )
        units = [case.responsible_unit_id]
        if kind == Reminder.Kind.ESCALATION and case.supervising_unit_id not in units:
            units.append(case.supervising_unit_id)
        return [pk for pk in units if pk in self._webhook_units]


def _who_may_see(
    wanted: dict[int, list[User]],
    *,
    scopes: dict[int, tuple[str, tuple[Any, ...]] | None] | None = None,
) -> dict[int, list[User]]:
    """Keep, for each case id, the people who may see that case, in one query (whatever the
    number of cases and people): each person's `visible_cases(person, one=True)` (scoped by
    join, not by unit ids read first) narrowed to their wanted cases, the answers put
    together with UNION ALL. A sweep keeps each person's scope compiled in `scopes` (by person
    id) for its steps, which ask about the same people (the delivery checks again before it
    sends)."""
    by_user: dict[int, tuple[User, set[int]]] = {}
    for case_id, people in wanted.items():
        for person in people:
            by_user.setdefault(person.pk, (person, set()))[1].add(case_id)
    scopes = {} if scopes is None else scopes
    parts: list[str] = []
    params: list[Any] = []
    for person_id, (person, case_ids) in by_user.items():
        if person_id not in scopes:
            scope = case_selectors.visible_cases(person, one=True).order_by().values_list("id")
            try:
                scopes[person_id] = scope.query.sql_with_params()
            except EmptyResultSet:  # sees nothing
                scopes[person_id] = None
        compiled = scopes[person_id]
        if compiled is None:
            continue
        sql, scope_params = compiled
        ids = sorted(case_ids)
        among_params: list[Any]
        among, among_params = "= ANY(%s)", [ids]
        if connection.vendor != "postgresql":
            among, among_params = f"IN ({', '.join(['%s'] * len(ids))})", [*ids]
        # Compiled SQL and placeholders only: every value is a parameter.
        parts.append(f"SELECT %s, v.id FROM ({sql}) v WHERE v.id {among}")  # noqa: S608
        params += [person_id, *scope_params, *among_params]
    allowed: set[tuple[int, int]] = set()
    if parts:
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            allowed = {(case_id, person_id) for person_id, case_id in cursor.fetchall()}
    return {
        case_id: [p for p in people if (case_id, p.pk) in allowed]
        for case_id, people in wanted.items()
    }


class NewReminder(NamedTuple):
    """A reminder to write (`_insert`): its unique key, addressee and provenance, as the
    columns of `Reminder` (attribute names) that a new reminder sets."""

    case_id: int
    kind: str
    window: str
    channel: str
    recipient_id: int | None
    unit_id: int | None
    event_id: int | None
    created_at: datetime
    sweep_id: int | None


def _reminder_rows(
    case: Case,
    *,
    kind: str,
    window: str,
    people: Sequence[User],
    units: Sequence[int],
    at: datetime,
    event: CaseEvent | None = None,
    sweep: Any = None,
) -> list[NewReminder]:
    wanted = enabled_channels()
    common = partial(
        NewReminder,
        case.pk,
        kind,
        window,
        event_id=event.pk if event is not None else None,
        created_at=at,
        sweep_id=sweep.pk if sweep is not None else None,
    )
    rows = []
    for person in people:
        if Channel.IN_APP in wanted:
            rows.append(common(Channel.IN_APP, person.pk, None))
        if Channel.EMAIL in wanted and person.email:
            rows.append(common(Channel.EMAIL, person.pk, None))
    if Channel.WEBHOOK in wanted:
        rows += [common(Channel.WEBHOOK, None, pk) for pk in units]
    return rows


def _insert(rows: list[NewReminder]) -> None:
    """Write `rows`, each unless its reminder exists: ON CONFLICT DO NOTHING on the reminder's
    unique key, so whoever comes second (a repeated or concurrent sweep, a second beat
    scheduler) writes nothing and does not fail. On PostgreSQL one statement over arrays, one
    per column (a sweep writes a hundred thousand rows: no model instance each)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        Reminder.objects.bulk_create(
            [Reminder(**row._asdict()) for row in rows], ignore_conflicts=True
        )
        return
    meta, quote = Reminder._meta, connection.ops.quote_name
    by_attname = {field.attname: field for field in meta.concrete_fields}
    fields = [by_attname[name] for name in (*NewReminder._fields, "status")]
    columns = ", ".join(quote(str(field.column)) for field in fields)
    arrays = ", ".join(f"%s::{field.db_type(connection)!s}[]" for field in fields[:-1])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
            f"SELECT *, %s FROM unnest({arrays}) ON CONFLICT DO NOTHING",
            [DeliveryStatus.PENDING, *(list(column) for column in zip(*rows, strict=True))],
        )


def _commit_without_waiting_for_the_disk() -> None:
    """This transaction's commit returns before its WAL is flushed (PostgreSQL's
    synchronous_commit off, for it alone): a sweep's step does not wait on the disk.

    Nothing sent can be lost: a crash loses at most the last steps' reminders, never sent (a
    message is sent only after its claim commits synchronously, which flushes every earlier
    record of the log); the next sweep writes them again, once (`_insert`). Only for a step
    that is a transaction of its own: inside a caller's transaction, its commit is the
    caller's."""
    if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


# --- The sweep ----------------------------------------------------------------------------


def sweep(*, today: date | None = None, policy: Policy | None = None) -> SweepReport:
    """Create the reminders due today (due_soon, overdue, escalation) for every open case.

    Idempotent and safe to run concurrently; cheap to run often (a case already reminded for
    its current window is skipped before its recipients are looked up)."""
    policy = policy or Policy.from_settings()
    today = today or timezone.localdate()
    at = timezone.now()
    report = SweepReport()
    days = calendar_for(policy.working_days)
    # The site's calendar and each unit's with overrides of its own (working-day mode).
    variants = days.variants(today)
    if not any(variant.is_working(today) for variant in variants):
        return report
    # A deadline can only be due soon if it comes before the (horizon+1)-th day from today,
    # on the calendar that reaches farthest.
    before = (
        max(variant.add(today, policy.horizon + 1) for variant in variants)
        if policy.horizon >= 0
        else today
    )
    statuses = statuses_to_remind(policy, OPEN_STATES, Status.ESCALATED)
    addressees = Addressees()
    step = partial(_sweep_step, report, addressees, policy, days, today=today, at=at)
    # The run tags its reminders: the digest step groups them once it has ended (reminders.
    # digest), so a delivery running meanwhile never splits a recipient's digest.
    run = sweep_begin()
    try:
        task_deadlines.sweep_tasks(report, run, policy, days, before=before, today=today, at=at)
        due = selectors.case_ids_to_remind(statuses, before=before)
        for start in range(0, len(due), _CHUNK):
            ids = due[start : start + _CHUNK]
            chunk = list(selectors.cases_to_remind(statuses, before=before, ids=ids))
            addressees.attach(chunk)
            if not step(chunk, run):
                logger.warning("sweep %s was taken for dead and stopped", run.pk)
                break
    finally:
        sweep_end(run)
    if report.unaddressed:
        # Once per sweep, not per case: a unit without liaison officers is a standing
        # condition that an admin fixes (add inspectors, an owner or a group bot).
        logger.warning(
            "%s cases are due for a reminder that nobody can receive (e.g. ids %s)",
            report.unaddressed,
            report.unaddressed_cases,
        )
    return report


def _sweep_step(
    report: SweepReport,
    addressees: Addressees,
    policy: Policy,
    days: Any,
    chunk: list[Case],
    run: Any,
    *,
    today: date,
    at: datetime,
) -> bool:
    """The reminders of one chunk of cases, written in one transaction; False if the run was
    taken for dead meanwhile (nothing written)."""
    due = {}
    for case in chunk:
        found = reminder_due(case.deadline, today, policy, days.for_unit(case.responsible_unit))
        if found is not None:
            due[case.pk] = (case, found)
    addressees.load_inspectors(case for case, _due in due.values())
    done = set(
        Reminder.objects.filter(
            case_id__in=list(due), window__in={d.window for _c, d in due.values()}
        ).values_list("case_id", "kind", "window")
    )
    todo = {pk: pair for pk, pair in due.items() if (pk, pair[1].kind, pair[1].window) not in done}
    people = _who_may_see(
        {pk: addressees.people(case, d.kind) for pk, (case, d) in todo.items()},
        scopes=addressees.scopes,
    )
    rows: list[NewReminder] = []
    unaddressed = []
    for pk, (case, d) in todo.items():
        units = addressees.webhook_units(case, d.kind)
        if not people[pk] and not units:
            unaddressed.append(pk)
        rows += _reminder_rows(
            case, kind=d.kind, window=d.window, people=people[pk], units=units, at=at, sweep=run
        )
    with transaction.atomic():
        _commit_without_waiting_for_the_disk()
        if not sweep_step_begin(run):
            return False
        _insert(rows)
    report.cases += len(due)
    report.reminders += len(rows)
    report.unaddressed += len(unaddressed)
    room = max(0, 20 - len(report.unaddressed_cases))
    report.unaddressed_cases += unaddressed[:room]
    return True


def deliver_after_commit() -> None:
    """Publish one delivery task when the current transaction commits.

    Once per transaction: a bulk follow-up of fifty cases publishes one task (which sends one
    digest per recipient), and with the broker down costs one short timeout, not fifty. Every
    call registers a callback (`transaction.on_commit`), all of them sharing this thread's
    next `_Publication`; the first to run after the commit publishes it, the others find it
    done. (A rolled-back transaction leaves its publication to the thread's next one.)"""
    publication = getattr(_thread, "publication", None)
    if publication is None or publication.done:
        publication = _thread.publication = _Publication()
    transaction.on_commit(partial(_publish_once, publication), robust=True)


class _Publication:
    done = False


_thread = threading.local()


def _publish_once(publication: _Publication) -> None:
    if publication.done:
        return
    publication.done = True
    from .tasks import deliver_reminders, publish  # here: the tasks module imports this one

    publish(deliver_reminders)


# --- Digests and delivery -------------------------------------------------------------------


def deliver(*, limit: int | None = None) -> DeliveryReport:
    """Make digests of the new reminders, then claim and send every message that is due."""
    report = DeliveryReport(messages=group_new_reminders())
    with translation.override(settings.LANGUAGE_CODE):
        while limit is None or len(report.outcomes) < limit:
            claimed = claim_next()
            if claimed is None:
                break
            message, token = claimed
            outcome = _send(message, token)
            report.outcomes[message.pk] = outcome
            if outcome in ("sent", "retrying", "failed", "cancelled"):
                setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def claim_next() -> tuple[Delivery, uuid.UUID] | None:
    """Claim the next due message with a lease, or None when nothing is due.

    FOR UPDATE SKIP LOCKED keeps concurrent senders off the same row; the lease keeps them off
    it after this transaction commits, until it expires (the sender died) or is released."""
    now = timezone.now()
    with transaction.atomic():
        message = (
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
            .order_by("next_attempt_at", "id")
            .first()
        )
        if message is None:
            return None
        token = uuid.uuid4()
        message.attempts += 1
        message.claimed_until = now + timedelta(seconds=settings.REMINDER_LEASE_SECONDS)
        message.claim_token = token
        message.save(update_fields=["attempts", "claimed_until", "claim_token"])
    return message, token


def _is_stale(reminder: Reminder) -> bool:
    """Nothing to remind of any more: the case is done, or its deadline moved on; a workflow
    notification only when what it asks for is moot (`event_is_stale`)."""
    if reminder.kind in WORKFLOW_KINDS:
        return event_is_stale(reminder.kind, reminder.case.status)
    if reminder.case.status in DONE_STATES:
        return True
    deadline = window_deadline(reminder.window)
    return deadline is not None and deadline != reminder.case.deadline.isoformat()


def _still_allowed(message: Delivery, recipient: Any, reminders: list[Reminder]) -> list[Reminder]:
    if not reminders:
        return reminders
    if recipient is not None:
        visible = set(
            case_selectors.visible_cases(recipient)
            .filter(pk__in=[r.case_id for r in reminders])
            .values_list("pk", flat=True)
        )
        return [r for r in reminders if r.case_id in visible]
    # A unit's group bot: never a restricted ledger, and only for units still on the case.
    return [
        r
        for r in reminders
        if not r.case.inspection.restricted
        and message.unit_id in (r.case.responsible_unit_id, r.case.supervising_unit_id)
    ]


def _send(message: Delivery, token: uuid.UUID) -> str:
    reminders = list(
        message.reminders.filter(status=DeliveryStatus.PENDING)
        .select_related("case", "case__responsible_unit", "case__inspection", "event")
        .order_by("case__deadline", "case_id", "id")
    )
    live = task_deadlines.still_due(reminders, _is_stale)  # a task's: while it is open
    stale = [r for r in reminders if r not in live]
    recipient = (
        User.objects.filter(pk=message.recipient_id).first() if message.recipient_id else None
    )
    hook = None
    if message.channel == Channel.WEBHOOK:
        if message.unit_id is not None:
            hook = UnitWebhook.objects.select_related("unit").filter(unit=message.unit_id).first()
        if hook is None or not hook.enabled:
            live, stale = [], reminders
    if message.recipient_id and (recipient is None or not recipient.is_active):
        live, stale = [], reminders
    # Who may receive is checked again now: between the sweep and this send a ledger may have
    # become restricted or the case moved to another unit.
    live = _still_allowed(message, recipient, live)
    stale = [r for r in reminders if r not in live]
    if not live:
        return _finish(message, token, DeliveryStatus.CANCELLED, live=[], stale=stale)
    max_attempts = hook.max_attempts if hook else settings.REMINDER_MAX_ATTEMPTS
    if message.attempts > max_attempts:
        # Claimed more often than allowed without an outcome: its senders keep dying on it.
        return _fail(message, token, _("多次发送中断，已停止重试。"), max_attempts=0)
    # (A person's message always has its recipient here, a group's its hook: see above.)
    try:
        if message.channel == Channel.EMAIL and recipient is not None:
            channels.send_email(recipient, live)
        elif message.channel == Channel.WEBHOOK and hook is not None:
            channels.send_webhook(hook, live, lease_ends=message.claimed_until)
    except Exception as error:
        return _fail(message, token, channels.describe(error), max_attempts=max_attempts)
    notification = None
    if message.channel == Channel.IN_APP and recipient is not None:
        notification = channels.in_app_notification(recipient, live)
    return _finish(
        message, token, DeliveryStatus.SENT, live=live, stale=stale, notification=notification
    )


def _finish(
    message: Delivery,
    token: uuid.UUID,
    status: str,
    *,
    live: Sequence[Reminder],
    stale: Iterable[Reminder],
    notification: Notification | None = None,
) -> str:
    now = timezone.now()
    with transaction.atomic():
        owned = Delivery.objects.filter(pk=message.pk, claim_token=token).update(
            status=status,
            sent_at=now if status == DeliveryStatus.SENT else None,
            claimed_until=None,
            claim_token=None,
        )
        if not owned:
            # The lease ran out while sending and another sender took the message over: it
            # will record the outcome (and may send it again: the lease must outlast a send).
            logger.warning("delivery %s: lease lost before recording the outcome", message.pk)
            return "lost"
        if notification is not None:
            # In the outcome's own transaction: an in-app message is written exactly once.
            notification.delivery = message
            notification.save()
        Reminder.objects.filter(pk__in=[r.pk for r in live]).update(status=status, sent_at=now)
        Reminder.objects.filter(pk__in=[r.pk for r in stale]).update(
            status=DeliveryStatus.CANCELLED
        )
    return "sent" if status == DeliveryStatus.SENT else "cancelled"


def retry_delay(attempt: int) -> timedelta:
    """Exponential back-off after the n-th failed attempt, capped."""
    base, cap = settings.REMINDER_RETRY_BASE_SECONDS, settings.REMINDER_RETRY_MAX_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempt - 1, 0), cap))


def _fail(message: Delivery, token: uuid.UUID, error: str, *, max_attempts: int) -> str:
    now = timezone.now()
    entry = {"at": now.isoformat(), "attempt": message.attempts, "error": error[:500]}
    give_up = message.attempts >= max_attempts
    values: dict[str, Any] = {
        "last_error": error[:2000],
        "errors": [*message.errors, entry][-_KEEP_ERRORS:],
        "claimed_until": None,
        "claim_token": None,
    }
    if give_up:
        values["status"] = DeliveryStatus.FAILED
    else:
        values["next_attempt_at"] = now + retry_delay(message.attempts)
    with transaction.atomic():
        if not Delivery.objects.filter(pk=message.pk, claim_token=token).update(**values):
            logger.warning("delivery %s: lease lost before recording a failure", message.pk)
            return "lost"
        if give_up:
            message.reminders.filter(status=DeliveryStatus.PENDING).update(
                status=DeliveryStatus.FAILED
            )
    logger.warning(
        "delivery %s (%s) attempt %s failed%s: %s",
        message.pk,
        message.channel,
        message.attempts,
        ", giving up" if give_up else "",
        error,
    )
    return "failed" if give_up else "retrying"


def run_once(*, today: date | None = None) -> tuple[SweepReport, DeliveryReport]:
    """One sweep and one delivery round: the beat task and `manage.py send_reminders`."""
    return sweep(today=today), deliver()


@transaction.atomic
def delivery_retry(*, delivery_ids: Iterable[int]) -> int:
    """Send failed or cancelled messages again now, with a fresh count of attempts (admin)."""
    messages = Delivery.objects.filter(pk__in=list(delivery_ids)).exclude(
        status=DeliveryStatus.SENT
    )
    Reminder.objects.filter(delivery__in=messages).exclude(status=DeliveryStatus.SENT).update(
        status=DeliveryStatus.PENDING
    )
    count = messages.update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        claimed_until=None,
        claim_token=None,
    )
    if count:
        deliver_after_commit()
    return count


# --- In-app notifications ------------------------------------------------------------------


def notification_mark_read(*, user: Any, notification_id: Any) -> Notification:
    """Mark one of the user's own notifications read; anyone else's is "not found"."""
    try:
        notification = selectors.user_notifications(user).get(pk=notification_id)
    except (Notification.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("未找到该通知。")) from None
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=notification.read_at
        )
    return notification


def notifications_mark_all_read(*, user: Any) -> int:
    return (
        selectors.user_notifications(user)
        .filter(read_at__isnull=True)
        .update(read_at=timezone.now())
    )
