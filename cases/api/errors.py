"""One JSON shape for every API error: {status, code, message, fields}.

`message` is for people, in Chinese or English per Accept-Language; `code` is stable for
programs; `fields` maps input fields to their problems. Never a traceback or SQL.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import DomainError

logger = logging.getLogger(__name__)


def error_body(status_code: int, code: str, message: str, fields: dict | None = None) -> dict:
    return {"status": status_code, "code": code, "message": message, "fields": fields or {}}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as {"field": [...], "checklist.2": [...]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in _flatten(value, name).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            for field, messages in _flatten(
                item, f"{prefix}.{index}" if prefix else str(index)
            ).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(
            error_body(exc.status_code, exc.code, exc.message, exc.fields), status=exc.status_code
        )
    if isinstance(exc, Http404 | exceptions.NotFound):
        # DRF's pagination says "Invalid page."; anything else is a missing or hidden object.
        detail = getattr(exc, "detail", None)
        default = str(exceptions.NotFound.default_detail)
        message = str(detail) if detail and str(detail) != default else _("未找到，或您无权查看。")
        return Response(error_body(404, "not_found", message), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is restarting or unreachable: say so, and let the client retry.
        logger.warning("database unavailable: %s", exc)
        message = _("服务暂时不可用，请稍后重试。")
        return Response(
            error_body(503, "unavailable", message), status=503, headers={"Retry-After": "5"}
        )
    if isinstance(exc, DatabaseError):
        return None  # a real bug: Django's 500 page, logged, without details to the client
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        general = fields.pop("non_field_errors", [])
        message = (
            general[0]
            if general
            else _("请检查输入：%(problems)s")
            % {"problems": "；".join(f"{name}：{messages[0]}" for name, messages in fields.items())}
        )
        response.data = error_body(400, "invalid", message, fields)
        return response
    codes = exc.get_codes()
    message = next(iter(_flatten(exc.detail).values()))[0]
    response.data = error_body(
        response.status_code, codes if isinstance(codes, str) else exc.default_code, message
    )
    return response


def not_found(request: Any, exception: Exception | None = None) -> HttpResponse:
    """handler404: the API's error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(404, "not_found", _("未找到，或您无权查看。")), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
    """handler500: the API's error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body(500, "server_error", _("服务器内部错误，请稍后重试。")), status=500
        )
    return defaults.server_error(request, *args, **kwargs)
