from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import selectors
from .completion import completion_rows, completion_total
from .errors import NotFound
from .models import Evidence


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = {}
    if request.user.is_authenticated:
        cases = selectors.visible_cases(request.user)
        context = {
            "total": completion_total(cases),
            "by_inspection": completion_rows(cases, group_by="inspection"),
        }
    return render(request, "cases/home.html", context)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and compose: the process answers and the database is reachable."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


@login_required
@require_GET
def evidence_download(request: HttpRequest, case_id: int, evidence_id: int) -> FileResponse:
    try:
        evidence = selectors.evidence_get(request.user, case_id, evidence_id)
    except NotFound as error:
        raise Http404(error.message) from None
    return evidence_response(evidence)


def evidence_response(evidence: Evidence) -> FileResponse:
    """Evidence leaves only as an attachment, never rendered by the browser: the page and the
    API both answer with this."""
    response = FileResponse(
        evidence.file.open("rb"),
        as_attachment=True,
        filename=evidence.original_name,
        content_type=evidence.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
