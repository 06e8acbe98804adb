"""The look-back's pages (回头看与问责). Every page is a commission supervisor's (or a
superuser's): anyone else is refused (403) before any lookup, so a page never tells them that
a look-back, a re-check or an accountability record exists. Reads through `lookback.selectors`,
writes through `lookback.services`; a refusal is a form error and nothing is stored."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases import selectors as case_selectors
from cases.errors import DomainError, NotFound
from cases.forms import attach_error

from . import sampling, selectors, services
from .forms import AccountabilityForm, DecisionForm, StartForm
from .models import LookBack, RecheckTask

PAGE_SIZE = 30


def _require_overseer(request: HttpRequest) -> None:
    if not selectors.oversees_lookbacks(request.user):
        raise PermissionDenied(_("只有纪委监委的监督人员可以开展回头看和登记问责。"))


def _found(read: Any, *args: Any) -> Any:
    try:
        return read(*args)
    except NotFound as error:
        raise Http404(error.message) from None


@login_required
@require_GET
def lookback_list(request: HttpRequest) -> HttpResponse:
    """The look-backs of the jurisdiction, newest first, and the user's own open re-checks."""
    _require_overseer(request)
    user = request.user
    page = Paginator(visible_with_counts(user), PAGE_SIZE).get_page(request.GET.get("page"))
    mine = selectors.visible_tasks(user).filter(
        checker_id=user.pk, outcome=RecheckTask.Outcome.PENDING
    )[:PAGE_SIZE]
    return render(request, "lookback/list.html", {"page": page, "mine": mine})


def visible_with_counts(user: Any) -> Any:
    return (
        selectors.visible_lookbacks(user)
        .defer("population_ids")  # only the detail page re-draws
        .annotate(
            tasks_open=Count("tasks", filter=Q(tasks__outcome=RecheckTask.Outcome.PENDING)),
            tasks_false=Count("tasks", filter=Q(tasks__outcome=RecheckTask.Outcome.FALSE)),
        )
        .order_by("-created_at", "-id")
    )


@login_required
@require_http_methods(["GET", "POST"])
def lookback_start(request: HttpRequest) -> HttpResponse:
    _require_overseer(request)
    form = StartForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        filters = sampling.Filters(
            inspection=data["inspection"].pk if data["inspection"] else None,
            unit=data["unit"].pk if data["unit"] else None,
            region=data["region"].pk if data["region"] else None,
            closed_before=data["closed_before"],
        )
        try:
            lookback = services.lookback_start(
                request=request,
                actor=request.user,
                name=data["name"],
                checker_id=data["checker"].pk,
                deadline=data["deadline"],
                filters=filters,
                size=data["size"],
                percentage=data["percentage"],
                seed=data["seed"],
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            messages.success(
                request,
                _("已抽取 %(n)s 个问题，复核任务已分派。") % {"n": lookback.sample_size},
            )
            return redirect("lookback:detail", lookback_id=lookback.pk)
    status = 400 if form.errors else 200
    return render(request, "lookback/start.html", {"form": form}, status=status)


@login_required
@require_GET
def lookback_detail(request: HttpRequest, lookback_id: int) -> HttpResponse:
    """One look-back: its record (filters, seed, population, sample, whether a re-draw from
    the record gives the same sample) and its tasks with their outcomes."""
    _require_overseer(request)
    lookback: LookBack = _found(selectors.lookback_get, request.user, lookback_id)
    tasks = selectors.visible_tasks(request.user).filter(lookback=lookback).order_by("case__code")
    page = Paginator(tasks, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "lookback": lookback,
        "filters": describe_filters(request.user, lookback),
        "page": page,
        "redraw_matches": sampling.redraw(lookback) == list(lookback.drawn_ids),
    }
    return render(request, "lookback/detail.html", context)


def describe_filters(user: Any, lookback: LookBack) -> list[tuple[str, str]]:
    """The population query in words, naming only what the viewer may see."""
    filters = sampling.Filters.from_json(lookback.filters)
    shown: list[tuple[str, str]] = []
    if filters.inspection is not None:
        found = case_selectors.visible_inspections(user).filter(pk=filters.inspection).first()
        shown.append((_("检查/台账"), found.name if found else f"#{filters.inspection}"))
    for label, unit_id in ((_("责任单位（含下级）"), filters.unit), (_("区县"), filters.region)):
        if unit_id is not None:
            unit = case_selectors.visible_units(user).filter(pk=unit_id).first()
            shown.append((label, unit.name if unit else f"#{unit_id}"))
    if filters.closed_before is not None:
        shown.append((_("销号日期不晚于"), filters.closed_before.isoformat()))
    return shown or [(_("范围"), _("全部已销号问题"))]


def _task_page(request: HttpRequest, task: RecheckTask, status: int = 200, **forms: Any) -> Any:
    records = selectors.visible_accountability(request.user).filter(case_id=task.case_id)
    context = {
        "task": task,
        "decision_form": forms.get("decision_form") or DecisionForm(),
        "accountability_form": forms.get("accountability_form")
        or AccountabilityForm(user=request.user, initial={"unit": task.responsible_unit_id}),
        "records": records,
    }
    return render(request, "lookback/task.html", context, status=status)


@login_required
@require_GET
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    _require_overseer(request)
    return _task_page(request, _found(selectors.task_get, request.user, task_id))


@login_required
@require_POST
def task_decide(request: HttpRequest, task_id: int) -> HttpResponse:
    _require_overseer(request)
    task = _found(selectors.task_get, request.user, task_id)
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            services.recheck_decide(
                request=request,
                actor=request.user,
                task_id=task.pk,
                outcome=form.cleaned_data["outcome"],
                finding=form.cleaned_data["finding"],
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            messages.success(request, _("复核结论已记录。"))
            return redirect("lookback:task", task_id=task.pk)
    return _task_page(request, task, status=400, decision_form=form)


@login_required
@require_POST
def task_accountability(request: HttpRequest, task_id: int) -> HttpResponse:
    """An accountability record on a re-check (and so on its case)."""
    _require_overseer(request)
    task = _found(selectors.task_get, request.user, task_id)
    form = AccountabilityForm(request.POST, user=request.user)
    if _record(request, form, case_id=task.case_id, recheck_id=task.pk):
        return redirect("lookback:task", task_id=task.pk)
    return _task_page(request, task, status=400, accountability_form=form)


@login_required
@require_http_methods(["GET", "POST"])
def case_accountability(request: HttpRequest, case_id: int) -> HttpResponse:
    """A case's accountability records, and the form to add one."""
    _require_overseer(request)
    case = _found(case_selectors.case_get, request.user, case_id)
    form = AccountabilityForm(
        request.POST or None, user=request.user, initial={"unit": case.responsible_unit_id}
    )
    if request.method == "POST" and _record(request, form, case_id=case.pk):
        return redirect("lookback:case-accountability", case_id=case.pk)
    context = {
        "case": case,
        "form": form,
        "records": selectors.visible_accountability(request.user).filter(case_id=case.pk),
        "rechecks": selectors.visible_tasks(request.user).filter(case_id=case.pk),
    }
    return render(
        request, "lookback/case_accountability.html", context, status=400 if form.errors else 200
    )


def _record(request: HttpRequest, form: AccountabilityForm, **target: Any) -> bool:
    if not form.is_valid():
        return False
    data = form.cleaned_data
    try:
        services.accountability_create(
            request=request,
            actor=request.user,
            person_name=data["person_name"],
            person_title=data["person_title"],
            unit_id=data["unit"].pk,
            measure=data["measure"],
            decided_on=data["decided_on"],
            document_number=data["document_number"],
            note=data["note"],
            **target,
        )
    except DomainError as error:
        attach_error(form, error)
        return False
    messages.success(request, _("问责记录已登记。"))
    return True
