"""Structured logs: one JSON object per line, for a log collector.

Each line has `time` (UTC, ISO 8601), `level`, `logger` and `message`; inside a request also
`request_id` (the client's X-Request-ID if it sent a sane one, else a new one, echoed in the
response), `method`, `path` and `user_id` once the user is known; `status` when the record
carries one (django.request's 4xx/5xx lines); `task_id`/`task` inside a Celery task;
`exc_info` with the traceback; and any `extra={...}` the caller passed.

LOG_FORMAT=json|text chooses (settings.py; json by default when DEBUG is off).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "tracker_request", default=None
)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    # Django puts these on django.request / django.server records; shown as path and status.
    "request",
    "status_code",
    "server_time",
}


def _user_id(request: HttpRequest) -> int | None:
    """The user's id if authentication already ran: never a query from a log line."""
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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = _request.get()
        record_request = getattr(record, "request", None)
        if not isinstance(record_request, HttpRequest):
            record_request = None
        request = request or record_request
        if request is not None:
            request_id = getattr(request, "request_id", None)
            if request_id:
                entry["request_id"] = request_id
            entry["method"] = request.method
            entry["path"] = request.path
            user_id = _user_id(request)
            if user_id is not None:
                entry["user_id"] = user_id
        status = getattr(record, "status_code", None)
        if isinstance(status, int):
            entry["status"] = status
        task = _current_task()
        if task is not None:
            entry["task_id"] = task.request.id
            entry["task"] = task.name
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


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
