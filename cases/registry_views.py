"""立项登记: the pages where supervisors register the feedback (问题清单) without the admin.

- /inspections/                      the inspections the user sees (search, sort, pages)
- /inspections/new/, <id>/edit/      an inspection (organisation.inspection_create/_update)
- /inspections/<id>/problems/new/    a problem with its items and points (registry)
- /inspections/<id>/paste/           rows pasted from Excel (ledgers.pasting: the import)
- /cases/<id>/checklist/[<point>/]   add or reword a verification point (cases.checklist)

Supervisors only: anyone else is refused (403) before anything is looked up. Reads go
through the user-scoped selectors; an inspection or case out of scope is answered as a missing
one (404). Every write is one service call; a refusal is shown on the form, nothing stored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from ledgers import pasting

from . import checklist, organisation, selectors
from .errors import DomainError, NotFound
from .forms import CheckPointForm, attach_error
from .models import Inspection
from .permissions import ACTION_LABELS, Action, may
from .registry import PROBLEM, RowsRefused, problem_register
from .registry_forms import InspectionForm, ItemFormSet, PasteForm, ProblemForm
from .views import _case_or_404, _submit

PAGE_SIZE = 30
ORDERINGS = [
    ("-year", gettext_lazy("年度（由近及远）")),
    ("year", gettext_lazy("年度（由远及近）")),
    ("code", gettext_lazy("检查编号")),
    ("name", gettext_lazy("名称")),
    ("-created_at", gettext_lazy("最近登记")),
    ("rectification_deadline", gettext_lazy("整改期限")),
]


def _require_supervisor(request: HttpRequest) -> None:
    if not may(request.user, Action.INSPECTION):
        label = ACTION_LABELS[Action.INSPECTION]
        raise PermissionDenied(_("您的角色无权%(action)s。") % {"action": label})


def _inspection_or_404(user: Any, inspection_id: int) -> Inspection:
    inspection = selectors.visible_inspections(user).filter(pk=inspection_id).first()
    if inspection is None:
        raise Http404(_("未找到该检查，或您无权查看。"))
    return inspection


# --- Inspections -----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def inspection_list(request: HttpRequest) -> HttpResponse:
    _require_supervisor(request)
    term = request.GET.get("search", "").strip()[:100]
    ordering = request.GET.get("ordering") or "-year"
    if ordering not in dict(ORDERINGS):
        ordering = "-year"
    rows = selectors.visible_inspections(request.user).select_related("supervising_unit")
    if term:
        rows = rows.filter(Q(name__icontains=term) | Q(code__icontains=term))
    rows = rows.annotate(inspected=Count("inspected_units")).order_by(ordering, "code", "pk")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    managed = set(
        selectors.managed_inspections(request.user)
        .filter(pk__in=[row.pk for row in page.object_list])
        .values_list("pk", flat=True)
    )
    params = {k: v for k, v in request.GET.items() if k != "page" and v}
    return render(request, "cases/registry/inspection_list.html", {
        "page": page, "managed": managed, "search": term, "ordering": ordering,
        "orderings": ORDERINGS, "query": urlencode(params),
    })  # fmt: skip


def _inspection_page(
    request: HttpRequest, form: InspectionForm, inspection: Inspection | None
) -> HttpResponse:
    status = 400 if form.is_bound and form.errors else 200
    context = {"form": form, "inspection": inspection}
    return render(request, "cases/registry/inspection_form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def inspection_create(request: HttpRequest) -> HttpResponse:
    _require_supervisor(request)
    user: Any = request.user
    initial = {"year": timezone.localdate().year, "supervising_unit": user.unit_id}
    form = InspectionForm(request.POST or None, user=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            inspection = organisation.inspection_create(
                issuing_unit=user.unit or data["supervising_unit"],
                actor=user, request=request, **data,
            )  # fmt: skip
        except DomainError as error:
            attach_error(form, error)
        else:
            messages.success(request, _("检查已登记：%(name)s") % {"name": inspection.name})
            return redirect("cases:inspections")
    return _inspection_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def inspection_edit(request: HttpRequest, inspection_id: int) -> HttpResponse:
    _require_supervisor(request)
    inspection = _inspection_or_404(request.user, inspection_id)
    if not selectors.managed_inspections(request.user).filter(pk=inspection.pk).exists():
        raise PermissionDenied(_("只能修改本单位发起或监督的检查。"))
    fields = list(InspectionForm.base_fields)
    initial = {name: getattr(inspection, name) for name in fields if name != "inspected_units"}
    initial["inspected_units"] = list(inspection.inspected_units.values_list("pk", flat=True))
    form = InspectionForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changed = {name: data[name] for name in form.changed_data}
        if "code" in changed and not changed["code"]:
            changed.pop("code")  # the code is kept; an empty one is not a change
        try:
            organisation.inspection_update(
                inspection=inspection, actor=request.user, request=request, **changed
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            messages.success(request, _("检查已保存：%(name)s") % {"name": inspection.name})
            return redirect("cases:inspections")
    return _inspection_page(request, form, inspection)


# --- A problem with its items -------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def problem_create(request: HttpRequest, inspection_id: int) -> HttpResponse:
    """One form: the problem, its items (rows added in the page) and each one's points."""
    _require_supervisor(request)
    inspection = _inspection_or_404(request.user, inspection_id)
    data = request.POST or None
    problem_form = ProblemForm(
        data, user=request.user, prefix="problem",
        initial={"deadline": inspection.rectification_deadline},
    )  # fmt: skip
    items = ItemFormSet(data, prefix="items", form_kwargs={"user": request.user})
    if request.method == "POST" and problem_form.is_valid() and items.is_valid():
        rows = [form for form in items.forms if form.has_changed()]
        try:
            problem = problem_register(
                actor=request.user,
                inspection_id=inspection.pk,
                problem=problem_form.values(),
                items=[form.values() for form in rows],
            )
        except RowsRefused as refused:
            for key, error in refused.rows.items():
                attach_error(problem_form if key == PROBLEM else rows[key], error)
        except DomainError as error:
            attach_error(problem_form, error)
        else:
            done = {"code": problem.code, "count": len(rows)}
            messages.success(request, _("已登记问题 %(code)s 及 %(count)s 个事项。") % done)
            return redirect("cases:detail", case_id=problem.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "cases/registry/problem_form.html", {
        "inspection": inspection, "form": problem_form, "items": items,
    }, status=status)  # fmt: skip


# --- Rows pasted from Excel ---------------------------------------------------------------------


def _grid(ledger: Any, problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pasted rows as read, each with its problems: shown in place."""
    by_row: dict[int, list[dict[str, Any]]] = {}
    for problem in problems:
        by_row.setdefault(problem["row"], []).append(problem)
    labels = _column_labels(ledger.columns)
    rows = [
        {"row": row["row"],
         "cells": [(label, row["values"].get(key, "")) for label, key in zip(
             labels, ledger.columns, strict=True)],
         "problems": by_row.pop(row["row"], [])}
        for row in ledger.rows
    ]  # fmt: skip
    # Problems of no read row (none expected): shown at the end rather than lost.
    rows += [{"row": number, "cells": [], "problems": found} for number, found in by_row.items()]
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def paste(request: HttpRequest, inspection_id: int) -> HttpResponse:
    """Preview (`preview`) or import (`confirm`) the pasted rows."""
    _require_supervisor(request)
    inspection = _inspection_or_404(request.user, inspection_id)
    form = PasteForm(request.POST or None)
    context: dict[str, Any] = {"inspection": inspection, "form": form}
    status = 200
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["text"]
        try:
            if "confirm" in request.POST:
                plan = pasting.paste_import(
                    actor=request.user, inspection_id=inspection.pk, text=text, request=request
                )
                messages.success(request, _("已导入 %(count)s 行。") % {"count": len(plan.changed)})
                return redirect(f"{reverse('cases:list')}?inspection={inspection.pk}")
            ledger, plan = pasting.paste_preview(
                actor=request.user, inspection_id=inspection.pk, text=text
            )
        except pasting.PasteRefused as refused:
            ledger, _foreign = pasting.paste_read(text, inspection)
            context.update(refused=refused.message, grid=_grid(ledger, refused.problems))
            context["columns"] = _column_labels(ledger.columns)
            status = 400
        except NotFound as error:
            raise Http404(error.message) from None
        except DomainError as error:
            attach_error(form, error)
            status = 400
        else:
            context.update(
                grid=_grid(ledger, plan.problems),
                columns=_column_labels(ledger.columns),
                problems=plan.problems,
                changes=plan.changes(),
                ready=not plan.problems and bool(plan.changed),
            )
            status = 400 if plan.problems else 200
    elif request.method == "POST":
        status = 400
    return render(request, "cases/registry/paste.html", context, status=status)


def _column_labels(columns: list[str]) -> list[str]:
    from ledgers.columns import BY_KEY

    return [str(BY_KEY[key].label) for key in columns]


# --- Checklist points on the case page ----------------------------------------------------------


@login_required
@require_POST
def checklist_add(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    form = CheckPointForm(request.POST)
    return _submit(request, case, "checklist_form", form, _("验收要点已添加。"), lambda data: (
        checklist.checkpoint_add(actor=request.user, case_id=case.pk, text=data["text"])
    ))  # fmt: skip


@login_required
@require_POST
def checklist_edit(request: HttpRequest, case_id: int, point_id: int) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    if not case.checklist.filter(pk=point_id).exists():
        raise Http404(_("未找到该验收要点。"))
    form = CheckPointForm(request.POST, prefix=f"point-{point_id}")
    form.point_id = point_id  # type: ignore[attr-defined]  # the page shows its errors there
    return _submit(request, case, "checklist_edit_form", form, _("验收要点已修改。"), lambda data: (
        checklist.checkpoint_edit(
            actor=request.user, case_id=case.pk, point_id=point_id, text=data["text"]
        )
    ))  # fmt: skip
