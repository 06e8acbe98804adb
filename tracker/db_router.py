"""Reads that tolerate a little lag go to a PostgreSQL streaming replica; everything else
stays on the primary.

A replica is optional: `DATABASE_REPLICA_URL` adds the `replica` alias (tracker/settings.py).
Without it this router sends everything to `default`, exactly as if it were not installed.

Only code that opts in reads from the replica, by running inside `read_from_replica()` (a
context manager and a decorator): the dashboard and the progress report, the completion
statistics and the inspection figures of the API, the case list and a case's page (pages and
API; not a searched list: cases.views.case_list_reads), and the case reads of ledger exports.
Inside such a scope a read still goes to the primary when

- the scope has written anything (every write goes to the primary, and the replica may not
  have it yet: read-your-writes), for the rest of the scope. Writes are noticed both when the
  ORM asks this router where to write and, for raw SQL on the primary's connection, from the
  statements themselves (anything but a plain read counts);
- a transaction is open on the primary (its reads must see its own snapshot and rows);
- the user the scope reads for wrote on the primary in an earlier request or task, and the
  replica has not replayed that far yet (read-your-writes across requests, below).

Reads outside any scope (sessions and the logged-in user or API token, loaded by middleware,
`login_required` or DRF before the view's scope opens; every write and the reads of its
request; every service) stay on the primary.

The scope lives in a context variable: each thread (gunicorn worker, Celery process) and each
asyncio task has its own, so one request's writes never send another request to the primary.
Nested scopes share the outermost one.

Read-your-writes across requests, web machines and workers: a request
(`ReadYourWritesMiddleware`) or a task run for a user (`acting_for`) that changed data on the
primary records, once committed, the primary's WAL insert position
(`pg_current_wal_insert_lsn()`, past the end of its commit record) in the cache
(`REDIS_CACHE_URL`, shared by every machine), per user, for `READ_YOUR_WRITES_SECONDS`; the
recorded position only grows. The first read of a scope run for that user asks the replica how
far it has replayed (`pg_last_wal_replay_lsn()`: one query per scope, only when a position is
recorded) and reads from the primary if it is not that far yet. Other users' scopes, and the
user's own once the replica has caught up, read the replica. A change is any statement on the
primary's connection but reads (SELECT, locking ones too), transaction control and SET,
and writes of tables no replica read shows (`BOOKKEEPING_TABLES`: the session, the login
lockout, the audit log, ledger job rows; and `last_login`). Without a replica none of this
runs: no query, no cache access.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.http import HttpRequest, HttpResponseBase

from tracker.logging import authenticated_user_id

logger = logging.getLogger(__name__)

REPLICA_DB_ALIAS = "replica"
# How long a user's last write sends their replica reads to the primary while the replica is
# behind it: far longer than any lag the replica may have and still serve.
READ_YOUR_WRITES_SECONDS = 300

# Statements that only read. Anything else on the primary (INSERT, UPDATE, DELETE, a WITH that
# may write, SAVEPOINT, LOCK, ...) or a read that locks rows counts as a write.
_READ_ONLY = re.compile(r"\s*(SELECT|DECLARE|FETCH|CLOSE|EXPLAIN|SHOW)\b", re.IGNORECASE)
_LOCKING = re.compile(r"\bFOR\s+(NO\s+KEY\s+UPDATE|UPDATE|SHARE|KEY\s+SHARE)\b", re.IGNORECASE)


@dataclass
class _Scope:
    wrote: bool = False
    # Whether the replica is behind what the scope's user wrote: None until the first read.
    behind: bool | None = None


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
    if (
        scope is None
        or scope.wrote
        or not replica_configured()
        or connections[DEFAULT_DB_ALIAS].in_atomic_block
    ):
        return False
    if scope.behind is None:
        scope.behind = True  # while it is found out: the finding's own reads use the primary
        scope.behind = _replica_behind_the_actor()
    return not scope.behind


# --- Read-your-writes across requests ---------------------------------------------------------

# Statements that change no data: reads (locking ones too: their UPDATE follows), transaction
# control, session settings. A WITH changes data only with one of the writing verbs in it.
_NO_CHANGE = re.compile(
    r"\s*(SELECT|DECLARE|FETCH|CLOSE|EXPLAIN|SHOW|SAVEPOINT|RELEASE|ROLLBACK|BEGIN|START"
    r"|COMMIT|SET|RESET|LOCK)\b",
    re.IGNORECASE,
)
_WITH = re.compile(r"\s*WITH\b", re.IGNORECASE)
_WRITING_VERB = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
# Tables no replica read shows (tests/test_replica_router.py checks it): the session, the
# login lockout's rows (django-axes), the audit log, the ledger jobs' status rows. Writing them
# is no change a replica read could miss; nor is Django's update of the user's last login.
BOOKKEEPING_TABLES = (
    "django_session",
    "axes_accessattempt",
    "axes_accessattemptexpiration",
    "axes_accessfailurelog",
    "axes_accesslog",
    "audit_auditentry",
    "ledgers_exportjob",
    "ledgers_importjob",
)
_BOOKKEEPING = re.compile(
    r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(?:'
    + "|".join(BOOKKEEPING_TABLES)
    + r')"?[\s(]'
    r'|\s*UPDATE\s+"cases_user"\s+SET\s+"last_login"\s*=\s*%s\s+WHERE\b',
    re.IGNORECASE,
)
# Recorded when the primary could not say where its WAL is: the user's replica reads go to the
# primary until the record expires.
_UNKNOWN_POSITION = 2**62


def changes_data(sql: str) -> bool:
    """Whether a statement run on the primary may change a user's data (see the module
    docstring); when in doubt, it does."""
    if _NO_CHANGE.match(sql):
        return False
    if _WITH.match(sql) and not _WRITING_VERB.search(sql):
        return False
    return not _BOOKKEEPING.match(sql)


@dataclass
class _Actor:
    """The user on whose behalf this request or task runs, and whether it changed data."""

    user_id: Callable[[], int | None]
    wrote: bool = False


_actor: ContextVar[_Actor | None] = ContextVar("tracker_replica_actor", default=None)


def wrote_key(user_id: int) -> str:
    """The cache key of the WAL position of `user_id`'s last write."""
    return f"tracker:replica:wrote:{user_id}"


def _note_actor_writes(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """Execute wrapper on the primary's connection (installed once per connection object):
    marks the current actor, if any, as having changed data."""
    actor = _actor.get()
    if actor is not None and not actor.wrote and changes_data(str(sql)):
        actor.wrote = True
    return execute(sql, params, many, context)


def _watch_primary() -> None:
    wrappers = connections[DEFAULT_DB_ALIAS].execute_wrappers
    if _note_actor_writes not in wrappers:
        wrappers.append(_note_actor_writes)


def _record(actor: _Actor) -> None:
    """If the actor changed data, record where the primary's WAL is for its user (after the
    commit, when a transaction is still open)."""
    if not actor.wrote:
        return
    actor.wrote = False
    user_id = actor.user_id()
    if user_id is None:
        return
    primary = connections[DEFAULT_DB_ALIAS]
    if primary.in_atomic_block:
        transaction.on_commit(lambda: _remember(user_id), using=DEFAULT_DB_ALIAS)
    else:
        _remember(user_id)


def _remember(user_id: int) -> None:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            # The insert position, not pg_current_wal_lsn(): with synchronous_commit off the
            # written position may still be short of this commit's record.
            cursor.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
            position = int(cursor.fetchone()[0])
    except DatabaseError as error:
        logger.warning("read-your-writes: the primary's WAL position is unknown: %s", error)
        position = _UNKNOWN_POSITION
    try:
        _raise_to(wrote_key(user_id), position)
    except Exception as error:  # the cache (Redis) down: the write stands, the record is lost
        logger.warning("read-your-writes: could not record user %s's write: %s", user_id, error)


def _raise_to(key: str, position: int) -> None:
    """Set `key` to `position` unless it holds a larger one, for READ_YOUR_WRITES_SECONDS from
    now, with the cache's atomic operations only: two machines recording the same user's
    writes at once never leave the smaller position (at worst a larger sum: reads from the
    primary a little longer)."""
    for _attempt in range(5):
        recorded = cache.get(key)
        if recorded is None:
            if cache.add(key, position, timeout=READ_YOUR_WRITES_SECONDS):
                return
            continue  # recorded meanwhile by another request
        # Made to live long enough first, so the increment cannot land on an expired key.
        if not cache.touch(key, timeout=READ_YOUR_WRITES_SECONDS):
            continue  # expired meanwhile
        if recorded < position:
            try:
                cache.incr(key, position - recorded)
            except ValueError:
                continue  # evicted meanwhile
        return
    cache.set(key, _UNKNOWN_POSITION, timeout=READ_YOUR_WRITES_SECONDS)


def _replica_behind_the_actor() -> bool:
    """Whether the replica has not yet replayed the last write recorded for the current
    actor's user (or this request or task itself changed data before the scope opened)."""
    actor = _actor.get()
    if actor is None:
        return False
    if actor.wrote:
        return True  # not recorded yet: it is recorded when the request or task ends
    user_id = actor.user_id()
    if user_id is None:
        return False
    try:
        wrote_at = cache.get(wrote_key(user_id))
    except Exception as error:
        logger.warning("read-your-writes: the cache is unavailable, reading the primary: %s", error)
        return True
    if wrote_at is None:
        return False
    try:
        with connections[REPLICA_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn")
            replayed = cursor.fetchone()[0]
    except DatabaseError as error:
        logger.warning("read-your-writes: the replica's position is unknown: %s", error)
        return True
    # NULL: not in recovery, i.e. no standby at all (the alias points at a primary).
    return replayed is not None and int(replayed) < wrote_at


@contextmanager
def acting_for(user_id: int | None) -> Iterator[None]:
    """Run the block on behalf of `user_id` (a Celery task working for its user): its replica
    reads see the user's earlier writes, and what it changes is recorded for the user's next
    reads. Nested, the outer one decides. Does nothing without a replica."""
    if not replica_configured() or _actor.get() is not None:
        yield
        return
    _watch_primary()
    actor = _Actor(lambda: user_id)
    token = _actor.set(actor)
    try:
        yield
    finally:
        try:
            _record(actor)
        finally:
            _actor.reset(token)


class ReadYourWritesMiddleware:
    """Each request acts for its user (the session's, or the API token's once DRF has
    authenticated it): see `acting_for`. Without a replica it does nothing. Place it right
    after AuthenticationMiddleware. It stops acting when the view returns: no response here
    reads or writes while it is sent (an export or a download is a file built first)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not replica_configured():
            return self.get_response(request)
        _watch_primary()
        actor = _Actor(lambda: authenticated_user_id(request))
        token = _actor.set(actor)
        try:
            return self.get_response(request)
        finally:
            try:
                _record(actor)
            finally:
                _actor.reset(token)


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
