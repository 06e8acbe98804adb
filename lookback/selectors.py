"""Every read of the look-back, scoped to the user.

- Look-backs and their re-check tasks: a commission's supervisors (and superusers), for the
  look-backs started within their jurisdiction (`cases.selectors.scope_root`), and of those
  only the tasks whose case they may see (`visible_cases`: a restricted ledger stays the
  commission's). Nobody else: a unit is not told that its closes are being re-checked.
- Accountability records (问责): the commission's alone. Its supervisors and its own API
  tokens (an API reader of a commission), for the cases they may see; never an inspector or
  a supervisor of a responsible unit, nor a token of anyone else.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from cases import selectors as case_selectors
from cases.errors import NotFound
from cases.models import Unit, User
from cases.workflow import Role

from .models import AccountabilityRecord, LookBack, RecheckTask


def oversees_lookbacks(user: Any) -> bool:
    """A commission's supervisor or a superuser: starts, follows and decides look-backs."""
    return case_selectors.sees_everything(user) or case_selectors.is_commission_supervisor(user)


def reads_accountability(user: Any) -> bool:
    """The one rule of who reads accountability records (and their counts)."""
    if oversees_lookbacks(user):
        return True
    role = case_selectors.user_role(user)
    return role == Role.API_READER and bool(user.unit.is_supervising_body)


def follows(user: Any, unit: Unit) -> bool:
    """Whether `user` sees the look-backs started for `unit` (`visible_lookbacks`)."""
    if case_selectors.sees_everything(user):
        return True
    root = case_selectors.scope_root(user) if oversees_lookbacks(user) else None
    return root is not None and unit.path.startswith(root.path)


def visible_lookbacks(user: Any) -> QuerySet[LookBack]:
    rows = LookBack.objects.select_related("started_by", "unit")
    if case_selectors.sees_everything(user):
        return rows
    root = case_selectors.scope_root(user) if oversees_lookbacks(user) else None
    if root is None:
        return rows.none()
    return rows.filter(unit__path__startswith=root.path)


def lookback_get(user: Any, lookback_id: Any) -> LookBack:
    try:
        return visible_lookbacks(user).get(pk=lookback_id)
    except (LookBack.DoesNotExist, ValueError, TypeError):
        raise NotFound(_not_found()) from None


def visible_tasks(user: Any) -> QuerySet[RecheckTask]:
    if not oversees_lookbacks(user):
        return RecheckTask.objects.none()
    return RecheckTask.objects.filter(
        lookback__in=visible_lookbacks(user).values("pk"),
        case__in=case_selectors.visible_cases(user).values("pk"),
    ).select_related("lookback", "case", "checker", "decided_by", "responsible_unit")


def task_get(user: Any, task_id: Any) -> RecheckTask:
    try:
        return visible_tasks(user).get(pk=task_id)
    except (RecheckTask.DoesNotExist, ValueError, TypeError):
        raise NotFound(_not_found()) from None


def task_get_for_update(user: Any, task_id: Any) -> RecheckTask:
    """The visible task, its row locked until the end of the transaction."""
    try:
        return visible_tasks(user).select_for_update(of=("self",)).get(pk=task_id)
    except (RecheckTask.DoesNotExist, ValueError, TypeError):
        raise NotFound(_not_found()) from None


def visible_accountability(user: Any) -> QuerySet[AccountabilityRecord]:
    if not reads_accountability(user):
        return AccountabilityRecord.objects.none()
    cases = case_selectors.visible_cases(user).values("pk")
    return AccountabilityRecord.objects.filter(case__in=cases).select_related(
        "case", "unit", "recheck", "recorded_by"
    )


def possible_checkers(user: Any) -> QuerySet[User]:
    """Who may be named checker: active supervisors of a commission in the starter's view
    who also follow the starter's look-backs (`follows`): the starter's own commission, not
    a county's below it, which would never see its task."""
    if not oversees_lookbacks(user):
        return User.objects.none()
    people = case_selectors.visible_users(user).filter(
        role=Role.SUPERVISOR, unit__is_supervising_body=True
    )
    if user.unit_id is not None:  # its jurisdiction holds the starter's unit
        people = people.filter(unit__parent_id__in=user.unit.lineage)
    return people.select_related("unit").order_by("unit__path", "username")


def _not_found() -> str:
    from django.utils.translation import gettext

    return gettext("未找到该回头看或复核任务，或您无权查看。")
