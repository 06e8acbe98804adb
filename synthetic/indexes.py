"""The bench mode's bulk load into an empty database: the case tables' secondary indexes are
dropped and built again inside the load's own transaction.

Keeping an index up to date row by row costs far more than building it once over the loaded
rows (the search's GIN index above all). So, in the bench mode, unless `--keep-indexes`:

1. `take_tables` refuses (CommandError, nothing written) unless no other session is connected
   to the database and, once the tables are locked, none of them holds a row: a bulk load into
   an empty scale database, never into one in use;
2. `set_aside` drops the indexes that are no constraint's: neither primary key, unique nor
   exclusion, no unique index at all, nothing depending on them; their definitions are kept;
3. `rebuild` creates them again, with the same names and definitions, after the load and
   before the commit, with a larger `maintenance_work_mem` for this transaction only.

PostgreSQL DDL is transactional: every step runs in the load's transaction, which holds the
tables' ACCESS EXCLUSIVE lock from step 1 to its end. No other session ever sees the tables
without their indexes (it waits for the commit, then sees them with their indexes and rows), and
a failure or a rollback restores them as they were. Constraints are never touched: primary keys,
unique constraints, foreign keys and checks hold for every loaded row (the foreign keys checked
once over the loaded tables rather than row by row, while this lock is held: `synthetic.checks`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.management.base import CommandError
from django.db import OperationalError, connection

from cases.models import Case, CaseEvent, CheckPoint

TABLES = tuple(model._meta.db_table for model in (Case, CaseEvent, CheckPoint))

# For this transaction only (SET LOCAL): building the GIN index in memory is what makes it fast.
BUILD_MEMORY = "1GB"


@dataclass(frozen=True)
class Index:
    name: str  # quoted, schema-qualified
    definition: str  # pg_get_indexdef: CREATE INDEX …


def lock(cursor: Any, tables: Any, mode: str, what: str) -> None:
    """LOCK `tables` IN `mode` for the rest of the transaction, waiting a little (autovacuum
    gives way to it) but not for another session's transaction: CommandError, naming `what`."""
    previous = _fetch(cursor, "SELECT current_setting('lock_timeout')")[0][0]
    _fetch(cursor, "SELECT set_config('lock_timeout', '10s', true)")
    try:
        cursor.execute(f"LOCK TABLE {', '.join(tables)} IN {mode} MODE")
    except OperationalError as error:
        raise CommandError(
            f"--bench: {what} stayed locked by another session. Nothing was written."
        ) from error
    _fetch(cursor, "SELECT set_config('lock_timeout', %s, true)", [previous])


def take_tables(cursor: Any) -> None:
    """Lock the case tables for the rest of the transaction, or refuse: another session
    connected, the tables locked by one, or a case table with rows."""
    cursor.execute("SELECT pg_stat_clear_snapshot()")  # not what this transaction saw before
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    others = cursor.fetchone()[0]
    if others:
        raise CommandError(
            f"--bench loads into a database no one else uses, and {others} other session(s) "
            "are connected to this one. Nothing was written. Close them, or add --keep-indexes "
            "to load with every index in place (slower)."
        )
    lock(cursor, TABLES, "ACCESS EXCLUSIVE", "the case tables")
    filled = [
        table
        for table in TABLES
        if _fetch(cursor, f"SELECT EXISTS (SELECT 1 FROM {table})")[0][0]  # noqa: S608
    ]
    if filled:
        raise CommandError(
            f"--bench loads into a database without cases, and this one has rows in "
            f"{', '.join(filled)}. "
            "Nothing was written. Add --keep-indexes to load into it with every index in "
            "place (slower)."
        )


def set_aside(cursor: Any) -> list[Index]:
    """Drop the case tables' secondary indexes (see the module); returns what was dropped."""
    indexes = [
        Index(name, definition)
        for name, definition in _fetch(
            cursor,
            "SELECT format('%%I.%%I', n.nspname, c.relname), pg_get_indexdef(x.indexrelid) "
            "FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE x.indrelid = ANY (%s::regclass[]) "
            "AND NOT x.indisunique AND NOT x.indisprimary AND NOT x.indisexclusion "
            "AND NOT x.indisclustered AND x.indisvalid AND x.indisready "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid) "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass "
            "AND d.refobjid = x.indexrelid) "
            "AND obj_description(x.indexrelid, 'pg_class') IS NULL "
            "ORDER BY 1",
            [list(TABLES)],
        )
    ]
    for index in indexes:
        cursor.execute(f"DROP INDEX {index.name}")
    return indexes


def rebuild(cursor: Any, indexes: list[Index], log: Callable[[str], Any]) -> None:
    """Create the indexes `set_aside` dropped again, as they were."""
    started = time.monotonic()
    cursor.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
    declared = _declared()
    for index in indexes:
        _create(cursor, index, declared.get(index.name.split(".")[-1].strip('"')))
    log(f"  {len(indexes)} indexes built ({time.monotonic() - started:.1f} s)")


def _create(cursor: Any, index: Index, declared: str | None) -> None:
    """Create `index` from the SQL its model declares, if that gives back the very definition
    the catalog had (PostgreSQL prints some predicates, `IN (…)` lists, in a form that parses
    back differently), else from the catalog's definition: the same index either way."""
    if declared is not None:
        cursor.execute(declared)
        if _fetch(cursor, "SELECT pg_get_indexdef(%s::regclass)", [index.name])[0][0] == (
            index.definition
        ):
            return
        cursor.execute(f"DROP INDEX {index.name}")
    cursor.execute(index.definition)


def _declared() -> dict[str, str]:
    """The CREATE INDEX statements of the case models' `Meta.indexes`, by name, as a migration
    writes them."""
    statements = {}
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        for model in (Case, CaseEvent, CheckPoint):
            for index in model._meta.indexes:
                statements[index.name] = str(index.create_sql(model, editor))
    return statements


def _fetch(cursor: Any, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    cursor.execute(sql, params)
    return list(cursor.fetchall())
