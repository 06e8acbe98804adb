"""Structured logs: one JSON object per line, for a log collector, written by python-json-logger
(`pythonjsonlogger.json.JsonFormatter`); this module adds the request and the Celery task.

Each line has `time` (UTC, ISO 8601), `level`, `logger` and `message`; inside a request also
`request_id` (the client's X-Request-ID if it sent a sane one, else a new one, echoed in the
response), `method`, `path` and `user_id` once the user is known; `status` when the record
carries one (django.request's 4xx/5xx lines); `task_id`/`task` inside a Celery task;
`exc_info` with the traceback; and any `extra={...}` the caller passed.

LOG_FORMAT=json|text chooses (`log_settings`, called by settings.py; json by default when
DEBUG is off).
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import pythonjsonlogger.json
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty
from pythonjsonlogger.core import RESERVED_ATTRS

_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "tracker_request", default=None
)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Django puts these on django.request / django.server records; shown as path and status.
_NOT_EXTRA = [*RESERVED_ATTRS, "taskName", "request", "status_code", "server_time"]


def authenticated_user_id(request: HttpRequest) -> int | None:
    """The user's id if authentication already ran (the session's user, or the API token's,
    which DRF sets on the request too): never a query, from a log line or the read-your-writes
    record (tracker/db_router.py)."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = user._wrapped
        if user is empty:
            return None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "pk", None)


def _current_task() -> Any:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return None
    task = current_task
    return task if task and getattr(task, "request", None) and task.request.id else None


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """python-json-logger's formatter with our field names, non-ASCII kept readable, and the
    request and Celery task the line was written in."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("reserved_attrs", _NOT_EXTRA)
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        # The context is set last: an `extra=` key of the same name cannot forge it.
        record_request = getattr(record, "request", None)
        request = _request.get() or (
            record_request if isinstance(record_request, HttpRequest) else None
        )
        if request is not None:
            request_id = getattr(request, "request_id", None)
            if request_id:
                log_data["request_id"] = request_id
            log_data["method"] = request.method
            log_data["path"] = request.path
            user_id = authenticated_user_id(request)
            if user_id is not None:
                log_data["user_id"] = user_id
        status = getattr(record, "status_code", None)
        if isinstance(status, int):
            log_data["status"] = status
        task = _current_task()
        if task is not None:
            log_data["task_id"] = task.request.id
            log_data["task"] = task.name


class RequestContextMiddleware:
    """Outermost middleware: gives each request an id and makes the request known to the log
    lines written while it is handled."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(token)
        response["X-Request-ID"] = request_id
        return response


def log_settings(log_format: str, *, debug: bool, level: str) -> tuple[str, dict[str, Any]]:
    """LOG_FORMAT (json, text, or empty: json unless debug) and the LOGGING dict for it."""
    log_format = log_format.strip().lower() or ("text" if debug else "json")
    if log_format not in ("json", "text"):
        raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {log_format!r}.")
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"console": {"class": "logging.StreamHandler"}},
        "root": {"handlers": ["console"], "level": level},
    }
    if log_format == "json":
        config["formatters"] = {"json": {"()": "tracker.logging.JsonFormatter"}}
        config["handlers"]["console"]["formatter"] = "json"
        # Django's own loggers print through its text handler in debug mode: through ours.
        config["loggers"] = {
            "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        }
    return log_format, config
