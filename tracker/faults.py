"""Outages of the database and the broker, as the web sees them.

- `DatabaseUnavailableMiddleware`: PostgreSQL restarting or unreachable (a connection-level
  OperationalError or InterfaceError) answers 503 with Retry-After: the API's error shape
  under /api/, a small bilingual page elsewhere, instead of a 500 and an error report. The
  transaction the request was in is rolled back by the database (nothing half-written), and
  Django discards the broken connection when the request ends (`close_old_connections`; with
  CONN_HEALTH_CHECKS a persistent connection is checked before it is reused), so the next
  request reconnects by itself once the database is back.
- `health()`: the body of /healthz. The database down is "unavailable" (503: take the
  instance out of rotation); the broker (Redis) down is only "degraded" (200: pages and the
  API work, background work waits in the database for the broker to come back).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

_PAGE = """<!doctype html>
<html lang="zh-Hans">
<head><meta charset="utf-8"><title>服务暂时不可用 · Service unavailable</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>服务暂时不可用</h1>
<p>数据库暂时无法连接，您的操作未被保存。请稍候几秒后刷新页面重试。</p>
<hr>
<h1 lang="en">Service temporarily unavailable</h1>
<p lang="en">The database cannot be reached right now and nothing was saved.
Please wait a few seconds and reload the page.</p>
</body>
</html>
"""


def is_database_outage(error: BaseException | None) -> bool:
    """A database that cannot be talked to (connection refused, reset, closed, restarting),
    as opposed to a query the database refused (IntegrityError, ProgrammingError: bugs)."""
    return isinstance(error, OperationalError | InterfaceError)


def unavailable_response(request: HttpRequest) -> HttpResponse:
    response: HttpResponse
    if request.path.startswith("/api/"):
        from cases.api.errors import error_body

        # LocaleMiddleware may not have run yet: the language is the request's own.
        with translation.override(translation.get_language_from_request(request)):
            message = _("服务暂时不可用，请稍后重试。")
        response = JsonResponse(error_body(503, "unavailable", message), status=503)
    else:
        response = HttpResponse(_PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def _mark_outage(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    # Sent for any exception no view-level handler turned into a response, e.g. the session
    # middleware failing to save the session: noted here, answered in the middleware.
    if request is not None and is_database_outage(sys.exc_info()[1]):
        request._database_outage = True  # type: ignore[attr-defined]


got_request_exception.connect(_mark_outage, dispatch_uid="tracker.faults.mark_outage")


class DatabaseUnavailableMiddleware:
    """Place it right before SessionMiddleware: outside everything that may query the
    database (sessions, auth, login lockout, session policy), inside WhiteNoise (static files
    need no database)."""

    # Answers for itself (the database's state is its body).
    exempt_paths = frozenset({"/healthz"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path not in self.exempt_paths and not connection.in_atomic_block:
            try:
                # What the first query would do anyway (the health check of a persistent
                # connection, or connecting), done first: an outage is answered here, before
                # a middleware fails on it and Django reports a server error.
                connection.close_if_health_check_failed()
                connection.ensure_connection()
            except (OperationalError, InterfaceError) as error:
                return self._unavailable(request, error)
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, "_database_outage", False):
            # The connection broke mid-request and an inner middleware failed on it.
            return self._unavailable(request, None)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_outage(exception):
            return None
        return self._unavailable(request, exception)

    def _unavailable(self, request: HttpRequest, error: BaseException | None) -> HttpResponse:
        detail = str(error or "").strip().splitlines()
        logger.warning("database unavailable, answered 503: %s", detail[0] if detail else error)
        return unavailable_response(request)


# --- /healthz ----------------------------------------------------------------------------


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        logger.warning("health check: database unavailable: %s", error)
        return "error"
    return "ok"


def check_broker(timeout: float | None = None) -> str:
    """One connection attempt to the Celery broker with short timeouts, as `publish` makes."""
    from tracker.celery import app

    if not app.conf.broker_url:
        return "not configured"
    timeout = timeout or settings.REMINDER_PUBLISH_TIMEOUT_SECONDS
    try:
        with app.connection_for_write(
            connect_timeout=timeout,
            transport_options={
                "max_retries": 0,
                "socket_connect_timeout": timeout,
                "socket_timeout": timeout,
            },
        ) as broker:
            # One attempt (max_retries 0 above), as a publish makes it: opening the first
            # channel talks to the server (Redis: PING).
            broker.default_channel  # noqa: B018
    except Exception as error:
        logger.warning("health check: broker unavailable: %s", error)
        return "error"
    return "ok"


def health() -> tuple[dict[str, str], int]:
    """(body, HTTP status) for /healthz."""
    database = check_database()
    broker = check_broker()
    if database != "ok":
        status, code = "unavailable", 503
    elif broker == "error":
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    return {"status": status, "database": database, "broker": broker}, code
