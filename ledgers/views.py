"""Ledger pages: export (a file now, or a job with a progress bar), import (upload, preview,
confirm, progress) and the template. Reads go through the selectors, writes through the
services; a job is only ever shown to its owner (anyone else: 404)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import IO, Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases.errors import DomainError, NotFound

from . import selectors, services
from .forms import ImportForm
from .models import ExportJob, ImportJob
from .workbook import XLSX_CONTENT_TYPE


def xlsx_response(write: Callable[[IO[bytes]], Any], filename: str) -> FileResponse:
    """A workbook built into an anonymous temporary file (gone when the response is closed)
    and sent as an attachment."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
    try:
        write(out)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    response = FileResponse(
        out, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else reverse("cases:list")


def _own(getter: Callable[[Any, int], Any], request: HttpRequest, job_id: int) -> Any:
    try:
        return getter(request.user, job_id)
    except NotFound as error:
        raise Http404(error.message) from None


# --- Export -------------------------------------------------------------------------------


@login_required
@require_POST
def export(request: HttpRequest) -> HttpResponseBase:
    """导出台账: the cases the user is looking at (the list's or dashboard's query string)."""
    query = request.POST.get("query", "")
    try:
        total = selectors.ledger_cases(request.user, QueryDict(query)).count()
    except DomainError as error:
        messages.error(request, error.message)
        return redirect(_back(request))
    if total <= settings.LEDGER_EXPORT_INLINE_ROWS:
        return xlsx_response(
            lambda out: services.export_now(
                user=request.user, query=query, out=out, request=request
            ),
            services.export_filename(),
        )
    try:
        job = services.export_job_create(
            actor=request.user, query=query, total=total, request=request
        )
    except DomainError as error:  # too many jobs at once
        messages.error(request, error.message)
        return redirect(_back(request))
    return redirect("ledgers:export-job", job_id=job.pk)


@login_required
@require_GET
def export_job(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _own(selectors.export_job_get, request, job_id)
    return render(request, "ledgers/export_job.html", {"job": job})


@login_required
@require_GET
def export_status(request: HttpRequest, job_id: int) -> HttpResponse:
    """The progress partial the job page polls (htmx, every second while the job runs)."""
    job = _own(selectors.export_job_get, request, job_id)
    return render(request, "ledgers/_export_status.html", {"job": job})


@login_required
@require_GET
def export_download(request: HttpRequest, job_id: int) -> FileResponse:
    job = _own(selectors.export_job_get, request, job_id)
    if job.status != ExportJob.Status.DONE or not job.file:
        raise Http404(_("文件尚未生成。"))
    try:
        handle = job.file.open("rb")
    except FileNotFoundError:
        raise Http404(_("文件已过期，请重新导出。")) from None
    response = FileResponse(
        handle, as_attachment=True, filename=job.filename, content_type=XLSX_CONTENT_TYPE
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- Import -------------------------------------------------------------------------------


def _require_import(request: HttpRequest) -> None:
    if not services.may_import(request.user):
        raise PermissionDenied(_("您的角色无权导入台账。"))


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    _require_import(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    status = 400
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_job_create(actor=request.user, upload=upload, name=upload.name)
        except DomainError as error:  # too large, or too many jobs at once (429)
            form.add_error("file", error.message)
            status = error.status_code
        else:
            return redirect("ledgers:import-job", job_id=job.pk)
    context = {"form": form, "max_mb": settings.LEDGER_IMPORT_MAX_MB}
    return render(
        request, "ledgers/import_form.html", context, status=status if form.errors else 200
    )


@login_required
@require_GET
def import_template(request: HttpRequest) -> FileResponse:
    _require_import(request)
    return xlsx_response(services.import_template, _("整改台账导入模板.xlsx"))


def _import_context(job: ImportJob) -> dict[str, Any]:
    if job.is_active:  # the progress bar is all a poll needs
        return {"job": job}
    return {
        "job": job,
        "row_count": len(job.rows) if job.status == ImportJob.Status.PREVIEW else None,
        "changes": job.changes[: services.PREVIEW_ROWS],
        "more_changes": max(len(job.changes) - services.PREVIEW_ROWS, 0),
        "problem_rows": len({problem["row"] for problem in job.problems}),
    }


@login_required
@require_GET
def import_job(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _own(selectors.import_job_get, request, job_id)
    return render(request, "ledgers/import_job.html", _import_context(job))


@login_required
@require_GET
def import_status(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _own(selectors.import_job_get, request, job_id)
    return render(request, "ledgers/_import_status.html", _import_context(job))


@login_required
@require_POST
def import_confirm(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _own(selectors.import_job_get, request, job_id)
    _require_import(request)
    try:
        job = services.import_job_confirm(actor=request.user, job_id=job.pk, request=request)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        if job.status == ImportJob.Status.DONE:
            messages.success(
                request,
                _("已导入：新增 %(created)s 个，更新 %(updated)s 个，%(unchanged)s 个无变化。")
                % {"created": job.created, "updated": job.updated, "unchanged": job.unchanged},
            )
    return redirect("ledgers:import-job", job_id=job.pk)
