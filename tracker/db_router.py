"""Reads that tolerate a little lag go to a PostgreSQL streaming replica; everything else
stays on the primary.

A replica is optional: `DATABASE_REPLICA_URL` adds the `replica` alias (tracker/settings.py).
Without it this router sends everything to `default`, exactly as if it were not installed.

Only code that opts in reads from the replica, by running inside `read_from_replica()` (a
context manager and a decorator): the dashboard and the progress report, the completion
statistics and the inspection figures of the API, and the case reads of ledger exports.
Inside such a scope a read still goes to the primary when

- the scope has written anything (every write goes to the primary, and the replica may not
  have it yet: read-your-writes), for the rest of the scope. Writes are noticed both when the
  ORM asks this router where to write and, for raw SQL on the primary's connection, from the
  statements themselves (anything but a plain read counts);
- a transaction is open on the primary (its reads must see its own snapshot and rows).

Reads outside any scope (sessions and the logged-in user, loaded by middleware and
`login_required` before the view's scope opens; the case list and detail; every service)
stay on the primary.

The scope lives in a context variable: each thread (gunicorn worker, Celery process) and each
asyncio task has its own, so one request's writes never send another request to the primary.
Nested scopes share the outermost one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA_DB_ALIAS = "replica"

# Statements that only read. Anything else on the primary (INSERT, UPDATE, DELETE, a WITH that
# may write, SAVEPOINT, LOCK, ...) or a read that locks rows counts as a write.
_READ_ONLY = re.compile(r"\s*(SELECT|DECLARE|FETCH|CLOSE|EXPLAIN|SHOW)\b", re.IGNORECASE)
_LOCKING = re.compile(r"\bFOR\s+(NO\s+KEY\s+UPDATE|UPDATE|SHARE|KEY\s+SHARE)\b", re.IGNORECASE)


@dataclass
class _Scope:
    wrote: bool = False


_scope: ContextVar[_Scope | None] = ContextVar("tracker_read_from_replica", default=None)


@contextmanager
def read_from_replica() -> Iterator[None]:
    """Let the reads of this block (or decorated function) use the replica, if there is one,
    until the block writes."""
    if _scope.get() is not None:
        yield  # nested: the outer scope, and what it has written, decides
        return
    token = _scope.set(_Scope())
    try:
        with ExitStack() as stack:
            if replica_configured():
                stack.enter_context(connections[DEFAULT_DB_ALIAS].execute_wrapper(_note_writes))
            yield
    finally:
        _scope.reset(token)


def _note_writes(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """Execute wrapper on the primary's connection during a scope: raw SQL that writes (which
    never asks the router) sends the scope's later reads to the primary too."""
    scope = _scope.get()
    if scope is not None and not scope.wrote:
        text = str(sql)
        if not _READ_ONLY.match(text) or _LOCKING.search(text):
            scope.wrote = True
    return execute(sql, params, many, context)


def replica_configured() -> bool:
    return REPLICA_DB_ALIAS in connections.settings


def reads_from_replica() -> bool:
    """Whether a read made here, now, goes to the replica."""
    scope = _scope.get()
    return (
        scope is not None
        and not scope.wrote
        and replica_configured()
        and not connections[DEFAULT_DB_ALIAS].in_atomic_block
    )


class ReplicaRouter:
    """DATABASE_ROUTERS entry: see the module docstring."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        return REPLICA_DB_ALIAS if reads_from_replica() else DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        scope = _scope.get()
        if scope is not None:
            scope.wrote = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # Both aliases hold the same rows: an object read from the replica may be related to
        # (and saved with) one from the primary.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        # The replica follows the primary's schema through replication.
        return db == DEFAULT_DB_ALIAS
