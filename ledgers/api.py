"""`GET /api/v1/cases/export/`: the case list as an .xlsx ledger (registered in
cases/api/urls.py so it shares the API's URL prefix, schema, auth, throttling and error
shape). Same filters and ordering as `GET /api/v1/cases/`, same workbook as the page's export.

`GET /api/v1/jobs/exports/{id}/` and `/api/v1/jobs/imports/{id}/`: a background job's state,
as its page shows it (the owner's only; anyone else's is 404, as a missing one)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import FileResponse
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView, RetrieveAPIView
from rest_framework.request import Request

from cases import selectors as case_selectors
from cases.api.serializers import Called, ErrorSerializer
from cases.errors import InvalidInput
from cases.filters import CaseFilter
from cases.models import Case

from . import selectors, services
from .models import ExportJob, ImportJob, Job
from .views import xlsx_response
from .workbook import XLSX_CONTENT_TYPE


class TooManyRows(InvalidInput):
    code = "too_many_rows"


class CaseExportView(GenericAPIView):
    """The cases the caller may see, filtered and ordered as the case list, as an Excel
    ledger (title row, two header rows, one row per case). Up to
    LEDGER_API_EXPORT_MAX_ROWS rows (30000 by default); beyond, 400 `too_many_rows`: narrow
    the filters (e.g. by inspection or region)."""

    # Declared for the schema, which then lists exactly the case list's filter parameters;
    # the request itself is filtered by ledgers.selectors, as the page's export is.
    filter_backends = [DjangoFilterBackend]
    filterset_class = CaseFilter
    queryset = Case.objects.none()

    def get_queryset(self) -> Any:
        return case_selectors.case_list(self.request.user)

    @extend_schema(
        operation_id="cases_export",
        filters=True,
        responses={
            (200, XLSX_CONTENT_TYPE): OpenApiResponse(
                OpenApiTypes.BINARY, description="The ledger, as an attachment."
            ),
            400: OpenApiResponse(
                ErrorSerializer, description="Invalid filters, or `too_many_rows`."
            ),
        },
    )
    def get(self, request: Request) -> FileResponse:
        query = request.query_params.urlencode()
        total = selectors.ledger_cases(request.user, request.query_params).count()
        limit = settings.LEDGER_API_EXPORT_MAX_ROWS
        if total > limit:
            raise TooManyRows(
                _("共 %(total)s 个问题，超过单次导出上限 %(limit)s，请缩小筛选范围。")
                % {"total": total, "limit": limit}
            )
        return xlsx_response(
            lambda out: services.export_now(
                user=request.user, query=query, out=out, request=request
            ),
            services.export_filename(),
        )


class JobSerializer(serializers.ModelSerializer):
    status_display = Called(source="get_status_display")
    percent = serializers.IntegerField()
    attempt = serializers.IntegerField(
        help_text="the run under way (running) or next (queued): above 1 after a worker died "
        "holding the job"
    )
    max_attempts = serializers.IntegerField(source="MAX_ATTEMPTS")
    retrying = serializers.BooleanField(
        source="is_retry", help_text="queued or running again after a worker died holding it"
    )
    retry_notice = serializers.CharField(help_text="what the job page says of a retry, or empty")
    error = serializers.CharField(help_text="why the job failed (e.g. its workers kept dying)")

    class Meta:
        model = Job
        fields = [
            "id", "status", "status_display", "total", "processed", "percent", "attempts",
            "attempt", "max_attempts", "retrying", "retry_notice", "error", "created_at",
            "started_at", "finished_at",
        ]  # fmt: skip


class ExportJobSerializer(JobSerializer):
    class Meta(JobSerializer.Meta):
        model = ExportJob
        fields = [*JobSerializer.Meta.fields, "filename"]


class ImportJobSerializer(JobSerializer):
    class Meta(JobSerializer.Meta):
        model = ImportJob
        fields = [*JobSerializer.Meta.fields, "original_name", "created", "updated", "unchanged"]


class ExportJobView(RetrieveAPIView):
    """One of the caller's background exports: its progress, its attempts and why it failed.
    The file itself is downloaded from the job's page."""

    serializer_class = ExportJobSerializer
    queryset = ExportJob.objects.none()  # for the schema; get_object scopes every request

    def get_object(self) -> ExportJob:
        return selectors.export_job_get(self.request.user, self.kwargs["pk"])


class ImportJobView(RetrieveAPIView):
    """One of the caller's background imports: its progress, its attempts and why it failed."""

    serializer_class = ImportJobSerializer
    queryset = ImportJob.objects.none()

    def get_object(self) -> ImportJob:
        return selectors.import_job_get(self.request.user, self.kwargs["pk"])
