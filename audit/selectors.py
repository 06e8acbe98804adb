"""Who may read the audit log, and which entries: superusers all of it; supervisors of a
commission (纪委监委) the entries of their jurisdiction. Nobody else, not even a supervisor of
a government department: the log says who looked at the commission's clues."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast

from cases.models import User
from cases.selectors import (
    is_commission_supervisor,
    restricted_grants,
    scope_root,
    sees_everything,
    visible_cases,
    visible_units,
)

from .models import AuditEntry


def may_read_audit(user: Any) -> bool:
    return sees_everything(user) or is_commission_supervisor(user)


def audit_entries(user: Any) -> QuerySet[AuditEntry]:
    """The entries `user` may read, newest first.

    A commission's supervisor reads what its people did and what was done to its units,
    users, inspections and bots (`actor_unit` or `target_unit` in its jurisdiction), and,
    of entries about a case, only those whose case it may see itself: an entry never tells
    of a case (or a clue) beyond the reader's scope.
    """
    entries = AuditEntry.objects.select_related("actor", "actor_unit", "case").order_by("-seq")
    if not may_read_audit(user):
        return entries.none()
    if sees_everything(user):
        return entries
    root = scope_root(user)
    if root is None:  # may_read_audit lets only a supervisor with a unit this far
        return entries.none()
    in_jurisdiction = Q(actor_unit__path__startswith=root.path) | Q(
        target_unit__path__startswith=root.path
    )
    about_visible_case = Q(case__isnull=True) | Q(case__in=visible_cases(user).values("pk"))
    # A grant's entry names its restricted ledger: only for those who may read the grant.
    grants = restricted_grants(user).annotate(key=Cast("pk", CharField())).values("key")
    about_visible_grant = ~Q(target_type="cases.restrictedgrant") | Q(target_id__in=grants)
    return entries.filter(in_jurisdiction & about_visible_case & about_visible_grant)


def audit_people(user: Any) -> QuerySet[User]:
    """The people the audit page can be filtered by (disabled accounts too: they acted)."""
    if not may_read_audit(user):
        return User.objects.none()
    if sees_everything(user):
        return User.objects.order_by("username")
    return User.objects.filter(unit__in=visible_units(user)).order_by("username")
