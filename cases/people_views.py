"""人员管理: a unit administrator's pages for the people and group bots of their unit's
subtree (superusers: every unit). Reads through cases.people_selectors, writes through
cases.people; anybody else is answered 403 before any lookup, and a person or bot outside the
caller's subtree as a missing one (404).

A set-password link is shown in the answer to the POST that made it, never again: the page
is not cached and the link goes to no session, message or log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from . import people
from .errors import DomainError, NotFound
from .forms import attach_error
from .models import User
from .people_forms import BotForm, PersonFilterForm, PersonForm
from .people_selectors import bot_get, manageable_bots, manages_people, people_search, person_get

PAGE_SIZE = 30


def _require_manager(request: HttpRequest) -> None:
    if not manages_people(request.user):
        raise PermissionDenied(_("只有单位管理员可以管理人员和群机器人。"))


def _page(request: HttpRequest, rows: Any) -> tuple[Any, str]:
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    params = {k: v for k, v in request.GET.lists() if k != "page"}
    return page, urlencode(params, doseq=True)


@login_required
@require_GET
def person_list(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    form = PersonFilterForm(request.GET, user=request.user)
    valid = form.is_valid()
    data = form.cleaned_data if valid else {}
    rows = (
        people_search(
            request.user,
            term=data.get("q") or "",
            unit=data.get("unit"),
            role=data.get("role") or "",
        )
        if valid
        else User.objects.none()
    )
    page, query = _page(request, rows)
    context = {
        "form": form,
        "page": page,
        "query": query,
        "filtered": any(v for k, v in request.GET.items() if k != "page"),
    }
    return render(request, "people/person_list.html", context)


def _link_page(request: HttpRequest, person: User, *, created: bool) -> HttpResponse:
    link = request.build_absolute_uri(people.set_password_link(person))
    context = {"person": person, "link": link, "created": created}
    return render(request, "people/password_link.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def person_create(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    form = PersonForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            person = people.person_create(
                actor=request.user,
                username=data["username"],
                full_name=data["full_name"],
                email=data["email"],
                unit_id=data["unit"].pk,
                role=data["role"],
                request=request,
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            return _link_page(request, person, created=True)
    status = 400 if form.errors else 200
    return render(request, "people/person_form.html", {"form": form}, status=status)


def _person_or_404(request: HttpRequest, person_id: int) -> User:
    try:
        return person_get(request.user, person_id)
    except NotFound as error:
        raise Http404(error.message) from None


@login_required
@require_http_methods(["GET", "POST"])
def person_detail(request: HttpRequest, person_id: int) -> HttpResponse:
    """The person's record: edit (POST), or deactivate / enable (POST `action`)."""
    _require_manager(request)
    person = _person_or_404(request, person_id)
    initial = {"full_name": person.full_name, "email": person.email, "unit": person.unit_id,
               "role": person.role}  # fmt: skip
    form = PersonForm(initial=initial, user=request.user, person=person)
    action = request.POST.get("action", "save")
    if request.method == "POST" and action in ("deactivate", "activate"):
        try:
            people.person_set_active(
                actor=request.user,
                person_id=person.pk,
                active=action == "activate",
                request=request,
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            if action == "activate":
                messages.success(request, _("账户已启用。"))
            else:
                messages.success(request, _("账户已停用，其登录和 API 令牌立即失效。"))
        return redirect("people:detail", person_id=person.pk)
    if request.method == "POST":
        form = PersonForm(request.POST, user=request.user, person=person)
        if form.is_valid():
            data = form.cleaned_data
            try:
                people.person_update(
                    actor=request.user,
                    person_id=person.pk,
                    full_name=data["full_name"],
                    email=data["email"],
                    unit_id=data["unit"].pk,
                    role=data["role"],
                    request=request,
                )
            except NotFound as error:
                raise Http404(error.message) from None
            except DomainError as error:
                attach_error(form, error)
            else:
                messages.success(request, _("已保存。"))
                return redirect("people:detail", person_id=person.pk)
    context = {"form": form, "person": person, "is_self": person.pk == request.user.pk}
    return render(request, "people/person_detail.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def person_password(request: HttpRequest, person_id: int) -> HttpResponse:
    """GET: what a reset does, and the button; POST: reset, and the link, shown once."""
    _require_manager(request)
    person = _person_or_404(request, person_id)
    error = ""
    if request.method == "POST":
        try:
            person = people.person_reset_password(
                actor=request.user, person_id=person.pk, request=request
            )
        except DomainError as refused:
            error = refused.message
        else:
            return _link_page(request, person, created=False)
    context = {"person": person, "error": error}
    return render(request, "people/person_password.html", context, status=400 if error else 200)


# --- Group bots ------------------------------------------------------------------------------


@login_required
@require_GET
def bot_list(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    page, query = _page(request, manageable_bots(request.user))
    return render(request, "people/bot_list.html", {"page": page, "query": query})


def _save_bot(request: HttpRequest, form: BotForm) -> HttpResponse | None:
    """The redirect after a stored bot; None when refused (the errors are on the form)."""
    if not form.is_valid():
        return None
    try:
        people.bot_save(actor=request.user, bot=form.instance, request=request)
    except NotFound as error:
        raise Http404(error.message) from None
    except DomainError as error:
        attach_error(form, error)
        return None
    messages.success(request, _("群机器人已保存。"))
    return redirect("people:bots")


@login_required
@require_http_methods(["GET", "POST"])
def bot_create(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    form = BotForm(request.POST or None, user=request.user)
    if request.method == "POST" and (done := _save_bot(request, form)):
        return done
    status = 400 if form.errors else 200
    return render(request, "people/bot_form.html", {"form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def bot_detail(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Edit a bot (POST), or remove it (POST `action=delete`)."""
    _require_manager(request)
    try:
        bot = bot_get(request.user, bot_id)
    except NotFound as error:
        raise Http404(error.message) from None
    if request.method == "POST" and request.POST.get("action") == "delete":
        try:
            people.bot_delete(actor=request.user, bot_id=bot.pk, request=request)
        except NotFound as error:
            raise Http404(error.message) from None
        messages.success(request, _("群机器人已删除。"))
        return redirect("people:bots")
    form = BotForm(request.POST or None, instance=bot, user=request.user)
    if request.method == "POST" and (done := _save_bot(request, form)):
        return done
    status = 400 if form.errors else 200
    return render(request, "people/bot_form.html", {"form": form, "bot": bot}, status=status)
