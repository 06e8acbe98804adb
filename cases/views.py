"""Web pages. Each view reads through the user-scoped selectors and writes through the
services; a service's refusal becomes a form error and nothing is stored.

htmx requests (the `HX-Request` header) get the page fragment they replace; plain form posts
get a redirect or the whole page, so everything works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from audit.services import record_case_view, record_evidence_download
from reminders import selectors as reminder_selectors
from tracker.db_router import read_from_replica

from . import bulk, follow_ups, grants, rules, selectors, services
from .case_page import case_records
from .dashboard import (
    Scope,
    changes_since,
    dashboard_figures,
    escalated_cases,
    key_problems,
    overdue_cases,
)
from .errors import DomainError, InvalidInput, NotBuiltYet, NotFound
from .evidence import download_name
from .extension_forms import extension_context
from .filters import LIGHTS, CaseFilter
from .forms import (
    AssignForm,
    BulkForm,
    CheckPointForm,
    DashboardForm,
    DeadlineForm,
    EvidenceForm,
    FollowUpForm,
    GrantForm,
    RectificationForm,
    ReportForm,
    RevokeForm,
    WorkflowForm,
    attach_error,
    picker_rows,
)
from .models import Case, Evidence, Unit
from .pagination import CappedPaginator, count_cap
from .permissions import Action, allowed_actions, may
from .workflow import Role, Status

PAGE_SIZE = 30
DRILL_PARAMS = ("level", "as_of", "unit", "no_region", "restricted")
ORDERINGS = [
    ("deadline", gettext_lazy("整改时限（由近及远）")),
    ("-deadline", gettext_lazy("整改时限（由远及近）")),
    ("-updated_at", gettext_lazy("最近更新")),
    ("code", gettext_lazy("问题编号")),
    ("status", gettext_lazy("状态")),
]


def _htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- Landing, dashboard, health -----------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Supervisors land on the dashboard, everyone else on their unit's cases."""
    if not request.user.is_authenticated:
        return redirect("login")
    if selectors.user_role(request.user) == Role.SUPERVISOR:
        return redirect("cases:dashboard")
    return redirect("cases:list")


def _scope(form: DashboardForm) -> Scope:
    if not form.is_valid():
        return Scope()
    data = form.cleaned_data
    return Scope(inspection=data.get("inspection"), region=data.get("region"),
                 level=data.get("level") or "problem", as_of=data.get("as_of"))  # fmt: skip


def _scoped_figures(request: HttpRequest, form: DashboardForm) -> tuple[Scope, dict[str, Any]]:
    """The dashboard's figures; a past day beat has not built yet for a large selection is a
    form error and the page shows today's figures (the read never builds it)."""
    scope = _scope(form)
    page = request.GET.get("unit_page")
    try:
        return scope, dashboard_figures(request.user, scope, page=page)
    except NotBuiltYet as error:
        form.add_error("as_of", error.message)
        scope = replace(scope, as_of=None)
        return scope, dashboard_figures(request.user, scope, page=page)


def _query_without(request: HttpRequest, name: str) -> str:
    """The page's query string without `name` (for links to another page of one table)."""
    return urlencode([(k, v) for k, values in request.GET.lists() if k != name for v in values])


@login_required
@require_GET
@read_from_replica()  # the user was loaded on the primary
def dashboard(request: HttpRequest) -> HttpResponse:
    """Completion by inspection, region and unit, lights, statuses, trend, overdue and key
    problems, for the user's jurisdiction; every figure from cases.completion."""
    form = DashboardForm(request.GET or None, user=request.user)
    scope, figures = _scoped_figures(request, form)
    cases = scope.cases(request.user)
    return render(request, "cases/dashboard.html", {
        "form": form,
        "scope": scope,
        "figures": figures,
        "overdue": overdue_cases(cases),
        "key_problems": key_problems(cases),
        "query": request.GET.urlencode(),
        "unit_query": _query_without(request, "unit_page"),
    })  # fmt: skip


@login_required
@require_GET
@read_from_replica()  # the user was loaded on the primary
def progress_report(request: HttpRequest) -> HttpResponse:
    """进度报告: a printable page per inspection or for the whole jurisdiction."""
    form = ReportForm(request.GET or None, user=request.user)
    since = (form.cleaned_data.get("since") if form.is_valid() else None) or (
        timezone.localdate() - timedelta(days=30)
    )
    scope, figures = _scoped_figures(request, form)
    cases = scope.cases(request.user)
    return render(request, "cases/report.html", {
        "form": form,
        "scope": scope,
        "since": since,
        "figures": figures,
        "overdue": overdue_cases(cases),
        "escalated": escalated_cases(cases),
        "changes": changes_since(cases, since),
        "generated_at": timezone.now(),
        "unit_query": _query_without(request, "unit_page"),
        # The downloads (documents/) take the same selection.
        "download_query": _query_without(request, "unit_page"),
    })  # fmt: skip


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and compose: the database (down: 503) and the broker (down: 200,
    "degraded") are reachable. See tracker.faults.health."""
    from tracker.faults import health

    body, status = health()
    return JsonResponse(body, status=status)


# --- Case list -------------------------------------------------------------------------


def case_list_reads(params: Mapping[str, Any]) -> AbstractContextManager[None]:
    """Where a case list (page or API) reads: the replica (`read_from_replica`), unless it is
    searched. A search finds its matches with SQL of its own on the primary's connection
    (cases.search), and a page's rows must come from the database its matches came from."""
    if str(params.get("search") or "").strip():
        return nullcontext()
    return read_from_replica()


def _list_reads_replica(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    @wraps(view)
    def reading(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with case_list_reads(request.GET):
            return view(request, *args, **kwargs)

    return reading


def _filter_choices(user: Any, chosen_unit: str) -> dict[str, Any]:
    units = selectors.visible_units(user)
    return {
        "inspections": selectors.visible_inspections(user)
        .order_by("-year", "code")
        .values_list("id", "name"),
        # Searched on the server as the user types (cases.autocomplete); the page carries a
        # first few for use without JavaScript.
        "units": picker_rows(units.filter(is_responsible_unit=True), [chosen_unit], "name"),
        "regions": units.filter(level=Unit.Level.COUNTY).values_list("id", "name"),
        "statuses": Status.choices,
        "lights": LIGHTS,
    }


@login_required
@require_GET
@_list_reads_replica  # the user was loaded on the primary
def case_list(request: HttpRequest) -> HttpResponse:
    """我的整改任务 / the cases in the user's scope, filtered, searched, sorted, paginated."""
    query = request.GET.copy()
    if not query.get("ordering"):
        query["ordering"] = "deadline"
    # The rows show the inspection and the responsible unit (`case_list_rows`): the other
    # units and the owner that `case_list` joins for the API are not read.
    rows = selectors.case_list(request.user).select_related(None)
    case_filter = CaseFilter(query, queryset=rows.select_related("inspection", "responsible_unit"))
    cases = Case.objects.none()
    if case_filter.is_valid():
        try:
            cases = case_filter.qs
        except InvalidInput as error:  # a past as_of over too many cases: narrow first
            case_filter.form.add_error("as_of", error.message)
    paginator = CappedPaginator(
        cases, PAGE_SIZE, cap=count_cap(request.GET), search=case_filter.search_plan
    )
    page = paginator.get_page(request.GET.get("page"))
    params = {k: v for k, v in request.GET.lists() if k != "page"}
    context = {
        "filter": case_filter,
        "page": page,
        "query": urlencode(params, doseq=True),
        "filtered": any(v for k, v in request.GET.items() if k not in ("page", "ordering")),
        "may_bulk": may(request.user, Action.FOLLOW_UP),
        "ordering": query["ordering"],
        "orderings": ORDERINGS,
        # The dashboard's drill-down filters, kept as the other filters change.
        "drill": [(k, v) for k in DRILL_PARAMS for v in request.GET.getlist(k) if v],
        "as_of": case_filter.form.cleaned_data.get("as_of") if case_filter.is_valid() else None,
        **_filter_choices(request.user, request.GET.get("responsible_unit", "")),
    }
    if may(request.user, Action.ASSIGN):
        context["bulk_units"] = context["units"]
    if _htmx(request) and request.headers.get("HX-Target") == "case-results":
        return render(request, "cases/_results.html", context)
    return render(request, "cases/case_list.html", context)


@login_required
@require_POST
def case_bulk(request: HttpRequest) -> HttpResponse:
    """Extend, reassign or follow up many cases at once: all of them, or none."""
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("cases:list")
    posted = [int(pk) for pk in request.POST.getlist("cases") if pk.isdigit()]
    visible = list(
        selectors.visible_cases(request.user).filter(pk__in=posted).values_list("pk", flat=True)
    )
    form = BulkForm(request.POST, user=request.user, case_ids=visible)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            text = " ".join(str(error) for error in errors)
            messages.error(request, f"{label}：{text}" if label else text)
        return redirect(back)
    data = form.cleaned_data
    if data["action"] == "close":
        return _bulk_close(request, data, back)
    try:
        with transaction.atomic():
            for case_id in data["cases"]:
                if data["action"] == "extend":
                    services.case_extend_deadline(
                        actor=request.user,
                        case_id=case_id,
                        deadline=data["deadline"],
                        reason=data["note"],
                    )
                elif data["action"] == "assign":
                    services.case_assign(
                        actor=request.user,
                        case_id=case_id,
                        responsible_unit=data["responsible_unit"],
                        note=data["note"],
                    )
                else:
                    services.case_follow_up(actor=request.user, case_id=case_id, note=data["note"])
    except DomainError as error:
        messages.error(request, _("未执行任何操作：%(error)s") % {"error": error.message})
        return redirect(back)
    messages.success(request, _("已处理 %(count)s 个问题。") % {"count": len(data["cases"])})
    return redirect(back)


def _bulk_close(request: HttpRequest, data: dict[str, Any], back: str) -> HttpResponse:
    """Close each selected case the user may close; report each refused one with the reason."""
    outcome = bulk.case_close_each(actor=request.user, case_ids=data["cases"], note=data["note"])
    if outcome.done:
        messages.success(request, _("已验收销号 %(count)s 个问题。") % {"count": len(outcome.done)})
    for _pk, code, _error, message in outcome.refused:
        text = _("%(code)s 未销号：%(message)s") % {"code": code, "message": message}
        messages.error(request, text)
    return redirect(back)


# --- Case page ---------------------------------------------------------------------------


def _case_or_404(user: Any, case_id: int) -> Case:
    try:
        return selectors.case_get(user, case_id)
    except NotFound as error:
        raise Http404(error.message) from None


def _case_context(request: HttpRequest, case: Case, **forms: Any) -> dict[str, Any]:
    user = request.user
    actions = allowed_actions(user)
    done = case.is_done
    records = case_records(user, case)  # before the workflow form: it reads the checklist
    context: dict[str, Any] = {
        "case": case,
        "max_mb": settings.EVIDENCE_MAX_BYTES // (1024 * 1024),
        # Only a case with items has any (`items_total` counts them, as completion does).
        "items": (  # (their rows show the light, which the inspection's calendar decides)
            selectors.visible_cases(user, one=True)
            .select_related("inspection")
            .filter(parent=case)
            .order_by("code")
            if case.items_total
            else []
        ),
        "checklist": records.checklist,
        "events": records.events,
        "evidence": records.evidence,
        "reminders": reminder_selectors.case_reminder_timeline(user, case),
        "actions": actions,
        "workflow_form": forms.get("workflow_form") or WorkflowForm(case=case, user=user),
    }
    if "rectify" in actions and not done:
        context["rectification_form"] = forms.get("rectification_form") or RectificationForm(
            instance=case
        )
    if "evidence" in actions:
        context["evidence_form"] = forms.get("evidence_form") or EvidenceForm()
    if "extend_deadline" in actions and not done:
        context["deadline_form"] = forms.get("deadline_form") or DeadlineForm(
            initial={"deadline": case.deadline}
        )
    # The assign panel asks for its form when opened (`case_assign_form`); a refusal shows it
    # here, open.
    context["assign_form"] = forms.get("assign_form")
    if "follow_up" in actions and not done:
        context["follow_up_form"] = forms.get("follow_up_form") or FollowUpForm()
    # Points are added and reworded until the case closes; a refusal is shown all the same.
    refused = forms.get("checklist_form") or forms.get("checklist_edit_form")
    if refused is not None or ("checklist" in actions and not done):
        context["checklist_form"] = forms.get("checklist_form") or CheckPointForm()
        context["checklist_edit_form"] = forms.get("checklist_edit_form")
    # Each follow-up with who read it and the unit's replies (cases.follow_up_views).
    context["follow_ups"] = records.follow_ups
    context["may_reply"] = follow_ups.may_reply(user, case)
    context["reply_form"] = forms.get("reply_form")
    # 延期申请 (cases.extension_views)
    context.update(extension_context(user, case, records.extension_requests, forms))
    return context


@login_required
@require_GET
@read_from_replica()  # the user was loaded on the primary
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    # A restricted case: who read it goes in the audit log (on the primary, and the rest of
    # the page is then read there too).
    record_case_view(request, case)
    return render(request, "cases/case_detail.html", _case_context(request, case))


def _after_write(request: HttpRequest, case_id: int, message: str) -> HttpResponse:
    if _htmx(request):
        messages.success(request, message)
        case = _case_or_404(request.user, case_id)
        return render(request, "cases/_case_body.html", _case_context(request, case))
    messages.success(request, message)
    return redirect("cases:detail", case_id=case_id)


def _refused(
    request: HttpRequest, case_id: int, form_name: str, form: Any, status: int = 400
) -> HttpResponse:
    """Show the page again with the form's errors; nothing was stored."""
    case = _case_or_404(request.user, case_id)
    context = _case_context(request, case, **{form_name: form})
    if _htmx(request):
        return render(request, "cases/_case_body.html", context)
    return render(request, "cases/case_detail.html", context, status=status)


def _submit(
    request: HttpRequest, case: Case, form_name: str, form: Any, success: str, perform: Any
) -> HttpResponse:
    """Run one service with a bound form's data; on refusal show the form with the reason."""
    status = 400
    if form.is_valid():
        try:
            perform(form.cleaned_data)
        except DomainError as error:
            attach_error(form, error)
            # The commission's rules answer 403 in the pages as in the API; other refusals
            # (bad input, a role's) show the form's error with 400, as they always have.
            status = 403 if isinstance(error, rules.REFUSALS) else 400
        else:
            return _after_write(request, case.pk, success)
    return _refused(request, case.pk, form_name, form, status)


@login_required
@require_POST
def case_transition(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    form = WorkflowForm(request.POST, request.FILES, case=case, user=request.user)
    return _submit(request, case, "workflow_form", form, _("状态已更新。"), lambda data: (
        services.case_transition(
            actor=request.user, case_id=case.pk, to=data["to"], note=data["note"],
            confirm=data["confirm"], notes=form.notes(),
            evidence=[data["evidence"]] if data["evidence"] else [],
        )
    ))  # fmt: skip


@login_required
@require_POST
def case_rectification(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    form = RectificationForm(request.POST, instance=Case(pk=case.pk))
    return _submit(request, case, "rectification_form", form, _("整改情况已保存。"), lambda data: (
        services.case_update_rectification(actor=request.user, case_id=case.pk,
                                           measures=data["measures"], progress=data["progress"])
    ))  # fmt: skip


@login_required
@require_POST
def case_evidence(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    form = EvidenceForm(request.POST, request.FILES)
    return _submit(request, case, "evidence_form", form, _("佐证材料已上传。"), lambda data: (
        services.evidence_add(actor=request.user, case_id=case.pk, upload=data["evidence"],
                              note=data["note"])
    ))  # fmt: skip


@login_required
@require_POST
def case_deadline(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    form = DeadlineForm(request.POST)
    return _submit(request, case, "deadline_form", form, _("整改时限已调整。"), lambda data: (
        services.case_extend_deadline(actor=request.user, case_id=case.pk,
                                      deadline=data["deadline"], reason=data["reason"])
    ))  # fmt: skip


@login_required
@require_GET
def case_assign_form(request: HttpRequest, case_id: int) -> HttpResponse:
    """The reassignment form: for the case page's panel when it opens (htmx), or a page of its
    own without JavaScript. Its pickers read the units and people in scope, which the case
    page itself does not; it posts to `case_assign`."""
    case = _case_or_404(request.user, case_id)
    if not may(request.user, Action.ASSIGN):
        raise PermissionDenied(_("您没有调整责任单位或责任人的权限。"))
    record_case_view(request, case)  # the case's unit and owner are shown: a read
    initial = {"responsible_unit": case.responsible_unit_id, "owner": case.owner_id}
    inline = _htmx(request)
    context = {
        "case": case,
        "inline": inline,
        "assign_form": AssignForm(user=request.user, initial=initial),
    }
    return render(
        request, "cases/_assign_form.html" if inline else "cases/case_assign.html", context
    )


@login_required
@require_POST
def case_assign(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    form = AssignForm(request.POST, user=request.user)
    return _submit(request, case, "assign_form", form, _("责任单位和责任人已调整。"), lambda data: (
        services.case_assign(actor=request.user, case_id=case.pk,
                             responsible_unit=data["responsible_unit"], owner=data["owner"],
                             note=data["note"])
    ))  # fmt: skip


@login_required
@require_POST
def case_follow_up(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    form = FollowUpForm(request.POST)
    return _submit(request, case, "follow_up_form", form, _("已督办。"), lambda data: (
        services.case_follow_up(actor=request.user, case_id=case.pk, note=data["note"])
    ))  # fmt: skip


# --- Evidence ---------------------------------------------------------------------------


@login_required
@require_GET
def evidence_download(request: HttpRequest, case_id: int, evidence_id: int) -> FileResponse:
    try:
        evidence = selectors.evidence_get(request.user, case_id, evidence_id)
    except NotFound as error:
        raise Http404(error.message) from None
    return evidence_response(request, evidence)


def evidence_response(request: Any, evidence: Evidence) -> FileResponse:
    """Evidence leaves only as an attachment, never rendered by the browser, and every
    download is in the audit log: the page and the API both answer with this."""
    record_evidence_download(request, evidence)
    response = FileResponse(
        evidence.file.open("rb"),
        as_attachment=True,
        filename=download_name(evidence.original_name, evidence.content_type),
        content_type=evidence.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# --- Restricted ledgers: grants -------------------------------------------------------------


def _require_commission(request: HttpRequest) -> None:
    if not selectors.is_commission_supervisor(request.user):
        raise PermissionDenied(_("只有纪委监委的监督人员可以管理限定台账的授权。"))


def _grants_page(request: HttpRequest, form: GrantForm) -> HttpResponse:
    grants = selectors.restricted_grants(request.user).select_related(
        "granted_by__unit", "revoked_by__unit"
    )
    context = {"form": form, "grants": grants, "revoke_form": RevokeForm()}
    return render(request, "cases/grants.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def restricted_grants(request: HttpRequest) -> HttpResponse:
    """A commission's grants of its restricted ledgers: the record, and a form to grant."""
    _require_commission(request)
    return _grants_page(request, GrantForm(user=request.user))


@login_required
@require_POST
def restricted_grant_create(request: HttpRequest) -> HttpResponse:
    _require_commission(request)
    form = GrantForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            grants.restricted_grant_create(
                actor=request.user,
                inspection_id=data["inspection"].pk,
                unit_id=data["unit"].pk,
                reason=data["reason"],
                request=request,
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            messages.success(request, _("已授权。"))
            return redirect("cases:grants")
    return _grants_page(request, form)


@login_required
@require_POST
def restricted_grant_revoke(request: HttpRequest, grant_id: int) -> HttpResponse:
    _require_commission(request)
    form = RevokeForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        grants.restricted_grant_revoke(
            actor=request.user, grant_id=grant_id, reason=reason, request=request
        )
    except NotFound as error:
        raise Http404(error.message) from None
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("授权已撤销。"))
    return redirect("cases:grants")
