"""Domain errors. Each carries a stable `code` for clients and a message for people; the web
pages turn them into form errors, the API into 4xx answers with `status_code`."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"
    status_code = 400

    def __init__(self, message: Any, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(str(message))
        self.message = str(message)
        self.fields = fields or {}


class InvalidInput(DomainError):
    code = "invalid"
    status_code = 400


class Forbidden(DomainError):
    code = "forbidden"
    status_code = 403


class NotFound(DomainError):
    """Also the answer for what exists but is outside the user's scope: no existence leak."""

    code = "not_found"
    status_code = 404


class Conflict(DomainError):
    code = "conflict"
    status_code = 409


class NotBuiltYet(Conflict):
    """Figures that only the scheduled job builds (past days' roll-ups) and it has not yet."""

    code = "not_built_yet"


class Stale(Conflict):
    """An edit based on an old read: the case changed since (optimistic concurrency)."""

    code = "stale"


class FileTooLarge(DomainError):
    code = "file_too_large"
    status_code = 413
