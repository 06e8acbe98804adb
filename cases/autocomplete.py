"""The pickers' search (units, people): JSON for tom-select (static/js/autocomplete.js), scoped
by the same selectors as the forms the choice is posted to, which check it again.

    GET /autocomplete/units/?q=&responsible=1&page=   visible units (responsible units only)
    GET /autocomplete/users/?q=&unit=&page=           people a supervisor may make owner

Answer: {"results": [{"id", "text", "detail"}], "more": bool, "next": url | null}, PAGE_SIZE
rows a page, names containing `q` (people: name or username), prefix matches first. A unit
the caller does not see is answered as an unknown one: no results. Reads only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from . import selectors
from .models import Unit, User
from .permissions import ACTION_LABELS, Action, may

PAGE_SIZE = 20
MAX_TERM = 100  # longer than any unit name or username: a longer term finds nothing anyway


def _unit_row(unit: Unit) -> dict[str, Any]:
    return {"id": unit.pk, "text": unit.name, "detail": unit.parent.name if unit.parent else ""}


def _user_row(person: User) -> dict[str, Any]:
    unit = person.unit.name if person.unit else ""
    return {"id": person.pk, "text": str(person), "detail": f"{person.username} · {unit}"}


def _page_number(request: HttpRequest) -> int | None:
    value = request.GET.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 10_000 else None


def _answer(
    request: HttpRequest, rows: QuerySet, page: int, row: Callable[[Any], dict[str, Any]]
) -> JsonResponse:
    start = (page - 1) * PAGE_SIZE
    found = list(rows[start : start + PAGE_SIZE + 1])  # one more tells whether there is more
    more = len(found) > PAGE_SIZE
    params = {**request.GET.dict(), "page": str(page + 1)}
    return JsonResponse({
        "results": [row(item) for item in found[:PAGE_SIZE]],
        "more": more,
        "next": f"{request.path}?{urlencode(params)}" if more else None,
    })  # fmt: skip


def _bad_request(message: str) -> JsonResponse:
    return JsonResponse({"status": 400, "code": "invalid", "message": message}, status=400)


@login_required
@require_GET
def unit_options(request: HttpRequest) -> JsonResponse:
    page = _page_number(request)
    if page is None:
        return _bad_request(_("页码无效。"))
    term = request.GET.get("q", "")[:MAX_TERM]
    responsible_only = request.GET.get("responsible") == "1"
    units = selectors.unit_search(request.user, term, responsible_only=responsible_only)
    return _answer(request, units, page, _unit_row)


@login_required
@require_GET
def user_options(request: HttpRequest) -> JsonResponse:
    # Only the owner picker of a reassignment lists people.
    if not may(request.user, Action.ASSIGN):
        label = ACTION_LABELS[Action.ASSIGN]
        raise PermissionDenied(_("您的角色无权%(action)s。") % {"action": label})
    page = _page_number(request)
    unit_id = request.GET.get("unit", "")
    if page is None or (unit_id and not unit_id.isdigit()):
        return _bad_request(_("页码或单位无效。"))
    term = request.GET.get("q", "")[:MAX_TERM]
    unit = None
    if unit_id:
        unit = selectors.visible_units(request.user).filter(pk=int(unit_id)).first()
        if unit is None:
            return JsonResponse({"results": [], "more": False, "next": None})
    people = selectors.assignable_users(request.user, term, unit=unit)
    return _answer(request, people, page, _user_row)
