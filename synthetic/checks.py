"""The bench mode's load into an empty database (`synthetic.indexes.take_tables`): foreign keys
checked in bulk, once per key, instead of by a trigger for every row, and the roll-ups counted
once instead of by statement triggers that the load then recounts.

Why: PostgreSQL checks a foreign key with one query per inserted row (an internal trigger runs
`SELECT … FOR KEY SHARE` on the referenced row); the case tables have 11 of them (6 per case, 3
per history row, 2 per checklist point), and those queries were about 70% of the database's
work during the COPY (perf, 200,000 cases). The roll-up triggers (`tally.load_triggers`) count each
COPY into the roll-ups, which `tally.refresh` then recounts from scratch anyway.

What is done, only when `take_tables` holds the case tables (empty, ACCESS EXCLUSIVE, no other
session connected), and only if `usable` finds every trigger the load would skip accounted for:

1. `begin` locks the tables the case tables' foreign keys reference (units, users, inspections)
   in SHARE mode until the commit: no other session can delete or change a row that a loaded
   row references, as the per-row checks' row locks would have prevented (the case tables
   themselves are held ACCESS EXCLUSIVE already). Then it sets `session_replication_role` to
   `replica` for the load's COPY statements only: triggers in the default (origin) mode do not
   fire. These are exactly the foreign keys' check triggers and the roll-up triggers; `usable`
   refuses the fast path if any other trigger would fire on an insert into a case table.
2. `end` sets the role back, checks every foreign key of the case tables with one anti-join
   query over the whole table (each table was empty before the load: every row is a loaded
   one), and raises IntegrityError on the first violation, before anything is committed; the
   load's transaction (and so everything it wrote) is rolled back. Then it drops the completion
   snapshots the loaded history could change, as the history trigger would have; `run` rebuilds
   the tally (`tally.refresh`) in the same transaction, as it always does.

Nothing here changes the schema: no constraint or trigger is dropped, disabled or altered (the
role is a setting of this session and transaction, which needs the right to set it: superuser
or `GRANT SET ON PARAMETER`; without it, or with an unknown trigger, the load checks row by row
as before). No other session sees the rows before the commit, so none can see them unchecked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError

from cases import tally
from cases.tally_sql import SNAPSHOT_LOCK

from .indexes import TABLES, lock

# For the checks only (set_config local, then set back): hash joins over a million cases in
# memory.
CHECK_MEMORY = "256MB"
# Whether this session may set session_replication_role: a superuser may, another role only by
# `GRANT SET ON PARAMETER` (PostgreSQL 15 and later), which has_parameter_privilege answers.
_SUPERUSER = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
_MAY_SET_ROLE = "SELECT has_parameter_privilege('session_replication_role', 'SET')"
# pg_trigger.tgtype's INSERT bit.
_INSERT = 1 << 2


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str  # quoted
    column: str  # quoted
    target: str  # quoted
    target_column: str  # quoted


def foreign_keys(cursor: Any) -> list[ForeignKey]:
    """Every foreign key of the case tables (all single-column: `usable` checks)."""
    return [
        ForeignKey(*row)
        for row in _fetch(
            cursor,
            "SELECT k.conname, k.conrelid::regclass::text, quote_ident(a.attname), "
            "k.confrelid::regclass::text, quote_ident(f.attname) "
            "FROM pg_constraint k "
            "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
            "JOIN pg_attribute f ON f.attrelid = k.confrelid AND f.attnum = k.confkey[1] "
            "WHERE k.contype = 'f' AND k.conrelid = ANY (%s::regclass[]) ORDER BY 2, 1",
            [list(TABLES)],
        )
    ]


def usable(cursor: Any) -> str | None:
    """None if the fast path may be taken, else why not (the load then checks row by row)."""
    if _fetch(cursor, "SELECT current_setting('session_replication_role')")[0][0] != "origin":
        return "session_replication_role is not the default (origin)"
    version = int(_fetch(cursor, "SHOW server_version_num")[0][0])
    may_set = _MAY_SET_ROLE if version >= 150000 else _SUPERUSER
    if not _fetch(cursor, may_set)[0][0]:
        return "no right to set session_replication_role"
    wide = _fetch(
        cursor,
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
        "AND conrelid = ANY (%s::regclass[]) AND cardinality(conkey) <> 1",
        [list(TABLES)],
    )[0][0]
    if wide:
        return "a foreign key of several columns"
    # The triggers an insert into a case table fires in the default role and not as a replica.
    skipped = _fetch(
        cursor,
        "SELECT tgrelid::regclass::text, tgname, tgisinternal, tgfoid = "
        "'pg_catalog.\"RI_FKey_check_ins\"'::regproc "
        "FROM pg_trigger WHERE tgrelid = ANY (%s::regclass[]) AND tgenabled = 'O' "
        "AND tgtype & %s <> 0",
        [list(TABLES), _INSERT],
    )
    redone = set(tally.load_triggers())
    unknown = [
        name
        for table, name, internal, key_check in skipped
        if not (internal and key_check) and (table, name) not in redone
    ]
    if unknown:
        return f"insert trigger(s) it cannot redo: {', '.join(sorted(unknown))}"
    return None


def begin(cursor: Any) -> None:
    """Lock the referenced tables (SHARE), then load without the per-row triggers."""
    targets = sorted({key.target for key in foreign_keys(cursor)} - set(TABLES))
    lock(cursor, targets, "SHARE", ", ".join(targets))
    _fetch(cursor, "SELECT set_config('session_replication_role', 'replica', true)")


def end(cursor: Any, log: Callable[[str], Any]) -> None:
    """Triggers on again; every foreign key checked (IntegrityError if one fails); the
    snapshots the loaded history could change dropped."""
    _fetch(cursor, "SELECT set_config('session_replication_role', 'origin', true)")
    started = time.monotonic()
    memory = _fetch(cursor, "SELECT current_setting('work_mem')")[0][0]
    _fetch(cursor, "SELECT set_config('work_mem', %s, true)", [CHECK_MEMORY])
    keys = foreign_keys(cursor)
    for key in keys:
        _check(cursor, key)
    _fetch(cursor, "SELECT set_config('work_mem', %s, true)", [memory])
    _drop_snapshots(cursor)
    log(f"  {len(keys)} foreign keys checked ({time.monotonic() - started:.1f} s)")


def _check(cursor: Any, key: ForeignKey) -> None:
    missing = _fetch(
        cursor,
        f"SELECT c.{key.column} FROM {key.table} c WHERE c.{key.column} IS NOT NULL "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {key.target} t WHERE t.{key.target_column} = "
        f"c.{key.column}) LIMIT 1",
    )
    if missing:
        raise IntegrityError(
            f'insert or update on table "{key.table}" violates foreign key constraint '
            f'"{key.name}": {key.column} {missing[0][0]} is not present in table '
            f'"{key.target}". Nothing was written.'
        )


def _drop_snapshots(cursor: Any) -> None:
    """What the history trigger (`tally_sql.on_history_added`) does for an insert: drop the
    snapshots of the days from the first loaded row's on (all of them are past days)."""
    cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [SNAPSHOT_LOCK])
    cursor.execute(
        "WITH zone AS (SELECT COALESCE(max(time_zone), 'UTC') AS name FROM cases_tallyday "
        "WHERE id = 1), loaded AS (SELECT (min(e.created_at) AT TIME ZONE zone.name)::date "
        "AS first_day, (now() AT TIME ZONE zone.name)::date AS today "
        "FROM cases_caseevent e, zone GROUP BY zone.name) "
        "DELETE FROM cases_completionsnapshot s USING loaded "
        "WHERE loaded.first_day < loaded.today AND s.day >= loaded.first_day"
    )


def _fetch(cursor: Any, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    cursor.execute(sql, params)
    return list(cursor.fetchall())
