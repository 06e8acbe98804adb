"""Reads of the reminders app. Reminders are scoped like their cases
(cases.selectors.visible_cases); notifications are the user's own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from cases import selectors as case_selectors
from cases.models import Case, Inspection, Unit

from . import task_deadlines
from .models import Notification, Reminder, UnitWebhook
from .rules import describe_window


def visible_reminders(user: Any, *, one: bool = False) -> QuerySet[Reminder]:
    """The reminders of the cases the user may see. `recipient_visible` says whether the user
    may see who received it: an escalation also reaches supervisors above the user's unit,
    whose names are not the user's to know. `one`: for one case's reminders (see
    `visible_cases`)."""
    cases = case_selectors.visible_cases(user, one=one)
    return _as_seen_by(user, Reminder.objects.filter(case__in=cases))


def _as_seen_by(user: Any, reminders: QuerySet[Reminder]) -> QuerySet[Reminder]:
    """`reminders` (of cases `user` may see) without what the user may not know of them, each
    with `recipient_visible` (`_recipients_visible`, in SQL)."""
    return _without_hidden_kinds(user, reminders).annotate(
        recipient_visible=Exists(_recipients_visible(user).filter(pk=OuterRef("recipient_id")))
    )


def _without_hidden_kinds(user: Any, reminders: QuerySet[Reminder]) -> QuerySet[Reminder]:
    if not (case_selectors.sees_everything(user) or case_selectors.is_commission_supervisor(user)):
        # A look-back's tasks (reminders.task_deadlines) are the commission's: a unit is not
        # told by its case's reminders that its close is being re-checked.
        reminders = reminders.exclude(kind__in=task_deadlines.task_kinds())
    return reminders


def _recipients_visible(user: Any) -> QuerySet:
    """The recipients whose names `user` may see (an escalation also reaches supervisors above
    the user's unit, whose names are not the user's to know)."""
    return case_selectors.visible_users(user)


def case_reminders(user: Any, case_id: Any) -> QuerySet[Reminder]:
    """One visible case's reminders, newest first; NotFound for a case the user may not see
    (the same answer as for a missing one)."""
    case = case_selectors.case_get(user, case_id)
    return (
        visible_reminders(user, one=True)
        .filter(case=case)
        .select_related("recipient", "unit")
        .order_by("-created_at", "-id")
    )


@dataclass
class TimelineEntry:
    """The reminders of one case for one reason and period, across recipients and channels."""

    kind: str
    kind_display: str
    window: str
    created_at: datetime
    deliveries: list[Reminder] = field(default_factory=list)

    @property
    def window_display(self) -> str:
        return describe_window(self.window)


def case_reminder_timeline(user: Any, case: Case, *, limit: int = 300) -> list[TimelineEntry]:
    """For the case page: the latest reminders of `case` (one `user` read through
    `case_get`: its scope is not asked again) grouped by (kind, window), newest first. One
    query."""
    rows = list(
        _without_hidden_kinds(user, Reminder.objects.filter(case_id=case.pk))
        .select_related("recipient", "unit")
        .order_by("-created_at", "-id")[:limit]
    )
    # `recipient_visible` as `_as_seen_by` annotates it, asked only of a case with reminders.
    ids = {reminder.recipient_id for reminder in rows} - {None}
    shown = set(_recipients_visible(user).filter(pk__in=ids).values_list("pk", flat=True))
    entries: dict[tuple[str, str], TimelineEntry] = {}
    for reminder in rows:
        reminder.recipient_visible = reminder.recipient_id in shown  # type: ignore[attr-defined]
        key = (reminder.kind, reminder.window)
        if key not in entries:
            entries[key] = TimelineEntry(
                reminder.kind, reminder.get_kind_display(), reminder.window, reminder.created_at
            )
        entries[key].deliveries.append(reminder)
    return list(entries.values())


def case_ids_to_remind(statuses: Iterable[str], *, before: date) -> list[int]:
    """System read for the sweep (not on behalf of a user: who may receive each reminder is
    checked per recipient): the ids of the open cases with a deadline before `before`, in id
    order; the sweep reads the cases in steps (`cases_to_remind`). Served by the (status,
    deadline) index: the due cases only, not a walk over every case in id order."""
    rows = Case.objects.filter(status__in=list(statuses), deadline__lt=before).order_by("pk")
    return list(rows.values_list("pk", flat=True))


def cases_to_remind(statuses: Iterable[str], *, before: date, ids: list[int]) -> QuerySet[Case]:
    """The cases of `ids` that are still open with a deadline before `before` (one may have
    moved on since its id was read), in id order, with what choosing recipients needs and
    nothing else (a sweep reads tens of thousands: not their texts; their units and
    inspections, a few hundred, are read apart: `sweep_units`, `sweep_inspections`)."""
    return (
        Case.objects.filter(pk__any=ids, status__in=list(statuses), deadline__lt=before)
        .select_related("owner__unit__parent")
        .only(*SWEPT_CASE_FIELDS)
        .order_by("pk")
    )


# What the sweep reads of a case (`reminders.services`: the rule, the addressees, the group
# bots); the owner whole.
SWEPT_CASE_FIELDS = (
    "deadline",
    "status",
    "responsible_unit",
    "owner",
    "supervising_unit",
    "inspection",
)


def sweep_units(ids: Iterable[int]) -> dict[int, Unit]:
    """System read for the sweep: responsible units by id."""
    return Unit.objects.in_bulk(list(ids))


def sweep_inspections(ids: Iterable[int]) -> dict[int, Inspection]:
    """System read for the sweep: inspections by id, with what choosing recipients needs."""
    return Inspection.objects.only("restricted").in_bulk(list(ids))


def case_for_reminders(case_id: int) -> Case:
    return Case.objects.select_related("owner__unit__parent", "responsible_unit", "inspection").get(
        pk=case_id
    )


def user_notifications(user: Any) -> QuerySet[Notification]:
    if not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    return Notification.objects.filter(user_id=user.pk).order_by("-created_at", "-id")


def notifications_in_scope(user: Any, notifications: Iterable[Notification]) -> list[Notification]:
    """The notifications with their items narrowed to the cases the user may see now (one
    query): a notification is a snapshot, and a case handed to another unit (or moved onto a
    restricted ledger) since is no longer the user's to see."""
    notifications = list(notifications)
    mentioned = {item.get("case") for n in notifications for item in n.items}
    visible = set(
        case_selectors.visible_cases(user).filter(pk__in=mentioned).values_list("pk", flat=True)
    )
    for notification in notifications:
        notification.items = [item for item in notification.items if item.get("case") in visible]
    return notifications


def unread(user: Any) -> QuerySet[Notification]:
    """The user's unread notifications: the top bar's badge counts them (`cases.inbox`), one
    COUNT served by the partial index on unread rows."""
    if not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True)


def webhook_units(user: Any) -> QuerySet[Unit]:
    """The units whose group bots `user` may see and edit (the admin): superusers all, other
    staff their own unit's subtree (a bot posts the unit's cases into its chat: the unit's
    business, not its neighbours')."""
    if not getattr(user, "is_active", False):
        return Unit.objects.none()
    if user.is_superuser:
        return Unit.objects.all()
    if user.unit_id is None:
        return Unit.objects.none()
    return Unit.objects.filter(case_selectors.in_unit_subtree(user.unit, "pk"))


def editable_webhooks(user: Any) -> QuerySet[UnitWebhook]:
    return UnitWebhook.objects.filter(unit__in=webhook_units(user))
