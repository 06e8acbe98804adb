"""Pages of extension requests (延期申请), the inboxes (待办) and the top bar's counts.

The case page (cases.views) shows the case's requests, the request form for the unit and the
pending request's approve/refuse buttons for the supervising side (`extension_context`); the
forms post here, and a refusal by the service is shown on the case page as a form error.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import extensions
from .errors import DomainError, NotFound
from .extension_forms import DecisionForm, ExtensionRequestForm
from .forms import attach_error
from .inbox import KINDS, Inbox, top_bar_counts
from .views import _after_write, _case_or_404, _refused

PAGE_SIZE = 30
TABS = {
    "to_verify": gettext_lazy("待我验收"),
    "escalated": gettext_lazy("待上级协调"),
    "extension_requests": gettext_lazy("延期申请"),
}


def _case_page(
    request: HttpRequest, case_id: int, form_name: str, form: Any, success: str
) -> HttpResponse:
    """The case page again with the form's errors (nothing stored), or back to the case."""
    if form.errors:
        return _refused(request, case_id, form_name, form)
    return _after_write(request, case_id, success)


@login_required
@require_POST
def extension_request(request: HttpRequest, case_id: int) -> HttpResponse:
    """The unit's request: back to the case, or the case page with the form's error."""
    case = _case_or_404(request.user, case_id)
    form = ExtensionRequestForm(request.POST)
    if form.is_valid():
        try:
            extensions.extension_request_create(
                actor=request.user,
                case_id=case.pk,
                deadline=form.cleaned_data["deadline"],
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            attach_error(form, error)
    success = _("延期申请已提交，等待监督单位审批。")
    return _case_page(request, case.pk, "extension_form", form, success)


@login_required
@require_POST
def extension_decision(request: HttpRequest, request_id: int) -> HttpResponse:
    """A supervisor's decision: back to the case (or the inbox it came from)."""
    try:
        found = extensions.request_get(request.user, request_id)
    except NotFound as error:
        raise Http404(error.message) from None
    form = DecisionForm(request.POST)
    approved = False
    if form.is_valid():
        approved = form.cleaned_data["approve"]
        try:
            extensions.extension_request_decide(
                actor=request.user,
                request_id=found.pk,
                approve=approved,
                note=form.cleaned_data["note"],
            )
        except DomainError as error:
            attach_error(form, error)
    success = _("已同意延期，整改时限已调整。") if approved else _("已不同意该延期申请。")
    return _case_page(request, found.case_id, "decision_form", form, success)


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """待办: the three inboxes as tabs, each paginated, with its count."""
    box = Inbox(request.user)
    tab = request.GET.get("tab") or next((k for k in KINDS if box.counts[k]), KINDS[0])
    if tab not in KINDS:
        tab = KINDS[0]
    page = Paginator(box.rows(tab), PAGE_SIZE).get_page(request.GET.get("page"))
    if tab == "extension_requests":
        page.object_list = extensions.label_requests(request.user, page.object_list)
    tabs = [(kind, TABS[kind], box.counts[kind]) for kind in KINDS]
    context = {"tab": tab, "tabs": tabs, "page": page, "counts": box.counts}
    return render(request, "cases/inbox.html", context)


@never_cache
@require_GET
def top_bar(request: HttpRequest) -> HttpResponse:
    """The top bar's links with their counts (`inbox.top_bar_counts`, one query), which every
    page asks for once it has loaded (`{% top_bar_badges %}`). Signed out (a session that
    ended since): 204, nothing to put in the page."""
    if not request.user.is_authenticated:
        return HttpResponse(status=204)
    counts = top_bar_counts(request.user)
    context = {
        "signed_in": True,
        "counted": True,
        "shown": "to_verify" in counts,
        "waiting": counts["total"],
        "unread": counts["unread"],
    }
    return render(request, "cases/_top_bar_badges.html", context)
