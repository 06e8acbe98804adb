"""`GET /api/v1/cases/export/`: the case list as an .xlsx ledger (registered in
cases/api/urls.py so it shares the API's URL prefix, schema, auth, throttling and error
shape). Same filters and ordering as `GET /api/v1/cases/`, same workbook as the page's export."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import FileResponse
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request

from cases import selectors as case_selectors
from cases.api.serializers import ErrorSerializer
from cases.errors import InvalidInput
from cases.filters import CaseFilter
from cases.models import Case

from . import selectors, services
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
