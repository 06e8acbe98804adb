"""Reads of the people pages (cases.people_views): whom and which group bots a unit
administrator manages. The services in cases.people check the same scope again.

- superuser: every unit, every person but other superusers' and staff accounts' admin
  rights (those stay in the Django admin), every bot;
- unit_admin (单位管理员): the units of their own unit's subtree (Unit.path), the people of
  those units except superusers and staff accounts, and those units' bots;
- anyone else: nothing (the pages answer 403 before any lookup).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext

from reminders.models import UnitWebhook

from .errors import NotFound
from .models import Unit, User
from .selectors import _ranked, user_role
from .workflow import Role


def manages_people(user: Any) -> bool:
    """A unit administrator, or a superuser: the people pages are theirs."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser) or user_role(user) == Role.UNIT_ADMIN


def manageable_units(user: Any) -> QuerySet[Unit]:
    if not manages_people(user):
        return Unit.objects.none()
    if user.is_superuser:
        return Unit.objects.all()
    # Serves the subtree scope with the unit_path_prefix index (path LIKE '/1/7/%').
    return Unit.objects.filter(path__startswith=user.unit.path)


def manageable_people(user: Any) -> QuerySet[User]:
    """People a manager may see and change, active or not. System administrators (superusers
    and staff) are out of a unit administrator's hands, wherever their unit."""
    if not manages_people(user):
        return User.objects.none()
    people = User.objects.all()
    if not user.is_superuser:
        people = people.filter(
            unit__path__startswith=user.unit.path, is_superuser=False, is_staff=False
        )
    return people


def people_search(
    user: Any, *, term: str = "", unit: Unit | None = None, role: str = ""
) -> QuerySet[User]:
    """The people list: name or username containing `term` (prefix matches first), within
    `unit`'s subtree (a unit the caller manages), of `role` ("none": without a role)."""
    people = manageable_people(user)
    if unit is not None:
        people = people.filter(unit__path__startswith=unit.path)
    if role == "none":
        people = people.filter(Q(role="") | Q(unit__isnull=True))
    elif role:
        people = people.filter(role=role)
    return _ranked(people, term, ["full_name", "username"]).select_related("unit")


def person_get(user: Any, person_id: Any) -> User:
    """One manageable person; a missing id and one out of scope are both NotFound."""
    try:
        return manageable_people(user).select_related("unit").get(pk=person_id)
    except (User.DoesNotExist, ValueError, TypeError):
        raise NotFound(_not_found()) from None


def manageable_bots(user: Any) -> QuerySet[UnitWebhook]:
    return (
        UnitWebhook.objects.filter(unit__in=manageable_units(user))
        .select_related("unit")
        .order_by("unit__path", "pk")
    )


def bot_get(user: Any, bot_id: Any) -> UnitWebhook:
    try:
        return manageable_bots(user).get(pk=bot_id)
    except (UnitWebhook.DoesNotExist, ValueError, TypeError):
        raise NotFound(_bot_not_found()) from None


def _not_found() -> str:
    return gettext("未找到该人员，或不在您的管理范围内。")


def _bot_not_found() -> str:
    return gettext("未找到该群机器人，或不在您的管理范围内。")
