"""Downloads of the documents: the progress report and the notice (.docx), the three lists
(.xlsx, .docx). GET only, and nothing written: each builds from the user-scoped figures with
the report page's filters; bad filters get a page saying why (400), with nothing built."""

from __future__ import annotations

import io
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from cases.dashboard import Scope
from cases.errors import DomainError, InvalidInput
from ledgers.views import xlsx_response
from tracker.db_router import read_from_replica

from .figures import Selected, issuer_of
from .forms import DocumentForm
from .layout import DOCX_CONTENT_TYPE
from .lists import lists_document, lists_workbook, three_lists
from .progress import progress_document


def selected_from(request: HttpRequest, *, notice: bool = False) -> Selected:
    """The report's filters from the query string; InvalidInput naming each bad one."""
    form = DocumentForm(request.GET, user=request.user)
    if not form.is_valid():
        fields = {name: [str(e) for e in errors] for name, errors in form.errors.items()}
        labels = {
            name: str(form.fields[name].label) if name in form.fields else name for name in fields
        }
        text = "；".join(f"{labels[name]}：{' '.join(errors)}" for name, errors in fields.items())
        raise InvalidInput(_("筛选条件有误：%(errors)s") % {"errors": text}, fields=fields)
    data = form.cleaned_data
    scope = Scope(
        inspection=data.get("inspection"),
        region=data.get("region"),
        level=data.get("level") or "problem",
        as_of=data.get("as_of"),
    )
    return Selected(scope, data.get("unit"), notice)


def _refused(request: HttpRequest, error: DomainError) -> HttpResponse:
    back = reverse("cases:report") + (f"?{request.GET.urlencode()}" if request.GET else "")
    return render(
        request,
        "documents/refused.html",
        {"message": error.message, "back": back},
        status=error.status_code,
    )


def _docx(data: bytes, name: str) -> FileResponse:
    response = FileResponse(
        io.BytesIO(data), as_attachment=True, filename=name, content_type=DOCX_CONTENT_TYPE
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _filename(name: str, extension: str) -> str:
    return f"{name}-{timezone.localdate():%Y%m%d}.{extension}"


def _progress(request: HttpRequest, *, notice: bool) -> HttpResponseBase:
    try:
        _title, data = progress_document(request.user, selected_from(request, notice=notice))
    except DomainError as error:  # bad filters; a past day not built yet for a large scope
        return _refused(request, error)
    return _docx(data, _filename(_("整改情况通报") if notice else _("整改进展情况报告"), "docx"))


@login_required
@require_GET
@read_from_replica()
def progress_docx(request: HttpRequest) -> HttpResponseBase:
    """整改进展情况报告 (.docx): the drafted report of the report page's selection."""
    return _progress(request, notice=False)


@login_required
@require_GET
@read_from_replica()
def notice_docx(request: HttpRequest) -> HttpResponseBase:
    """整改情况通报 (.docx): the same, without restricted ledgers, people's names and cases
    marked not for publication."""
    return _progress(request, notice=True)


def _lists(request: HttpRequest) -> tuple[str, list[Any]]:
    return three_lists(request.user, selected_from(request))


def _by(user: Any) -> str:
    unit = issuer_of(user)
    return user.get_full_name() + (f"（{unit}）" if unit else "")


@login_required
@require_GET
@read_from_replica()
def lists_xlsx(request: HttpRequest) -> HttpResponseBase:
    """问题清单、任务清单、责任清单: one workbook of three sheets, in the ledger's layout."""
    try:
        scope, lists = _lists(request)
    except DomainError as error:
        return _refused(request, error)
    return xlsx_response(
        lambda out: lists_workbook(out, scope=scope, lists=lists, by=_by(request.user)),
        _filename(_("三张清单"), "xlsx"),
    )


@login_required
@require_GET
@read_from_replica()
def lists_docx(request: HttpRequest) -> HttpResponseBase:
    """The three lists as .docx tables."""
    try:
        scope, lists = _lists(request)
    except DomainError as error:
        return _refused(request, error)
    data = lists_document(scope=scope, lists=lists, author=issuer_of(request.user))
    return _docx(data, _filename(_("三张清单"), "docx"))
