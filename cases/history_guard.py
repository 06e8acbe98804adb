"""The append-only guard of the case history on SQLite (the demo's database).

On PostgreSQL a trigger (migration 0002) and the runtime role's privileges
(`grant_runtime_role`) keep `cases_caseevent` append-only. SQLite has no roles, and it rebuilds
a table on most ALTERs, silently dropping the table's triggers; so the same guard is
(re)installed after every `migrate` by a post_migrate handler rather than by one migration:
UPDATE and DELETE of a history row are refused, whoever asks. (Whoever can write the SQLite
file can still drop the trigger: the demo promises no more than that; the keyed seals still
expose any change made that way.)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections

SQLITE_GUARD = (
    """
    CREATE TRIGGER IF NOT EXISTS cases_caseevent_no_update
    BEFORE UPDATE ON cases_caseevent
    BEGIN
        SELECT RAISE(ABORT, 'case history is append-only: UPDATE on cases_caseevent refused');
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS cases_caseevent_no_delete
    BEFORE DELETE ON cases_caseevent
    BEGIN
        SELECT RAISE(ABORT, 'case history is append-only: DELETE on cases_caseevent refused');
    END
    """,
)


def install_sqlite_guard(using: str = "default", **kwargs: Any) -> None:
    """post_migrate handler: install the guard on a SQLite database that has the table."""
    connection = connections[using]
    if connection.vendor != "sqlite" or not settings.HISTORY_SQLITE_GUARD:
        return
    if "cases_caseevent" not in connection.introspection.table_names():
        return
    with connection.cursor() as cursor:
        for statement in SQLITE_GUARD:
            cursor.execute(statement)
