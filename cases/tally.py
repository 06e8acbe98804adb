"""Completion roll-ups: the figures of a million cases as sums over a few thousand rows.

The completion module (`cases.completion`) defines the figures and computes them from the cases
themselves; this module keeps the same figures pre-counted, exactly, on PostgreSQL:

- `cases_completiontally` holds, per (inspection, responsible unit, supervising unit, region),
  how many problems and leaves are in each status, on time, and in each deadline light. Triggers
  on `cases_case` add a delta row in the transaction of every insert, update or delete that
  changes a counted column (one INSERT per statement: no row is updated, so concurrent writers
  never wait on each other or deadlock here). `compact()` adds the deltas up now and then.
- Lights depend on the day: the tally's lights are those of `TallyDay.day`. Beat's
  `cases.maintain_tally` builds the tally and rebuilds it for each new day under a lock that
  writers share, so no delta computed for yesterday lands after the rebuild. A read never
  builds: until the tally is today's, readers count the cases instead (`completion.figures`).
- `cases_completionsnapshot` holds the same figures as of the end of a past day, built once from
  the history by the same rule as `completion._state`, by beat only (`build_missing_snapshots`)
  and only for the kept days (`first_kept_day` to yesterday). A history row dated on or before a
  snapshot's day, or a case moving to another unit, inspection or level, drops the snapshots it
  could change (a trigger again), so a snapshot is never stale; beat builds them again.

Everything here is PostgreSQL-only; elsewhere (the SQLite demo) the figures are computed live.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import FIGURE_COLUMNS, FIGURE_NAMES, CompletionSnapshot, TallyDay
from .workflow import DONE_STATES, Status

DIMS = ("inspection_id", "responsible_unit_id", "supervising_unit_id", "region_id")
DONE_SQL = ", ".join(f"'{s.value}'" for s in sorted(DONE_STATES))
# A statement changes the figures only if one of these changes.
COUNTED = ("status", "deadline", "overdue_at_close", "parent_id", "items_total", *DIMS)
# Moving a case to another group or level changes its past as well as its present.
REGROUPING = ("parent_id", "items_total", *DIMS)
# pg_advisory_xact_lock keys: one for rebuilding and compacting the tally, one for snapshots
# (builders take it exclusively, writers of back-dated history share it).
TALLY_LOCK = 7_315_001
SNAPSHOT_LOCK = 7_315_002


def available() -> bool:
    return connection.vendor == "postgresql"


def figure_sums(
    *, status: str, deadline: str, late: str, case: str, day: str, sign: str = "1"
) -> list[str]:
    """SQL sums of every figure column, in FIGURE_COLUMNS order, over rows where `status`,
    `deadline` and `late` are the case's state and `case` its table alias. `day` is the light's
    reference day (a SQL date expression); the rule is `completion._light`'s."""
    soon = f"({day} + {settings.DUE_SOON_DAYS})"
    done = f"{status} IN ({DONE_SQL})"
    not_done = f"({status} IS NOT NULL AND {status} NOT IN ({DONE_SQL}))"
    conditions = {
        **{value: f"{status} = '{value}'" for value in Status.values},
        "on_time": f"{done} AND {late} = false",
        "red": f"{not_done} AND {deadline} < {day}",
        "yellow": f"{not_done} AND {deadline} BETWEEN {day} AND {soon}",
        "green": f"{status} IS NOT NULL AND ({done} OR {deadline} > {soon})",
    }
    levels = {"p": f"{case}.parent_id IS NULL", "i": f"{case}.items_total = 0"}
    return [
        f"COALESCE(SUM(CASE WHEN {levels[level]} AND {conditions[name]} THEN {sign} END), 0)"
        for level in ("p", "i")
        for name in FIGURE_NAMES
    ]


def _tally_insert(source: str, *, alias: str, sign: str, day: str) -> str:
    dims = ", ".join(f"{alias}.{dim}" for dim in DIMS)
    sums = figure_sums(
        status=f"{alias}.status",
        deadline=f"{alias}.deadline",
        late=f"{alias}.overdue_at_close",
        case=alias,
        day=day,
        sign=sign,
    )
    return (
        f"INSERT INTO cases_completiontally ({', '.join(DIMS)}, {', '.join(FIGURE_COLUMNS)}) "
        f"SELECT {dims}, {', '.join(sums)} FROM {source} GROUP BY {dims}"
    )


def _distinct(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in columns)


def install_sql() -> str:
    """The triggers (created by migration; run again by a later migration if the rule changes)."""
    day = "tally_day"
    changed = f"(SELECT o.* FROM old_rows o JOIN new_rows n USING (id) WHERE {_distinct(COUNTED)})"
    changed_new = (
        f"(SELECT n.* FROM old_rows o JOIN new_rows n USING (id) WHERE {_distinct(COUNTED)})"
    )
    regrouped = (
        "EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n USING (id) "
        f"WHERE {_distinct(REGROUPING)})"
    )
    return f"""
CREATE OR REPLACE FUNCTION cases_tally_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE tally_day date;
BEGIN
    -- Shared with other writers, exclusive with a rebuild for a new day (cases.tally.refresh).
    SELECT day INTO tally_day FROM cases_tallyday WHERE id = 1 FOR SHARE;
    IF NOT FOUND THEN
        RETURN NULL;  -- no tally yet: the first read builds it
    END IF;
    IF TG_OP = 'INSERT' THEN
        {_tally_insert("new_rows", alias="new_rows", sign="1", day=day)};
    ELSIF TG_OP = 'DELETE' THEN
        {_tally_insert("old_rows", alias="old_rows", sign="-1", day=day)};
        DELETE FROM cases_completionsnapshot;
    ELSE
        {_tally_insert(changed + " AS c", alias="c", sign="-1", day=day)};
        {_tally_insert(changed_new + " AS c", alias="c", sign="1", day=day)};
        IF {regrouped} THEN
            DELETE FROM cases_completionsnapshot;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION cases_snapshot_history_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE zone text; first_day date;
BEGIN
    SELECT COALESCE(max(time_zone), 'UTC') INTO zone FROM cases_tallyday WHERE id = 1;
    SELECT (min(created_at) AT TIME ZONE zone)::date INTO first_day FROM new_rows;
    -- Only history dated before today can change a snapshot (snapshots are of past days).
    IF first_day < (now() AT TIME ZONE zone)::date THEN
        PERFORM pg_advisory_xact_lock_shared({SNAPSHOT_LOCK});
        DELETE FROM cases_completionsnapshot WHERE day >= first_day;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS cases_tally_insert ON cases_case;
DROP TRIGGER IF EXISTS cases_tally_update ON cases_case;
DROP TRIGGER IF EXISTS cases_tally_delete ON cases_case;
DROP TRIGGER IF EXISTS cases_snapshot_history ON cases_caseevent;
CREATE TRIGGER cases_tally_insert AFTER INSERT ON cases_case
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cases_tally_apply();
CREATE TRIGGER cases_tally_update AFTER UPDATE ON cases_case
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cases_tally_apply();
CREATE TRIGGER cases_tally_delete AFTER DELETE ON cases_case
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cases_tally_apply();
CREATE TRIGGER cases_snapshot_history AFTER INSERT ON cases_caseevent
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cases_snapshot_history_added();
"""


UNINSTALL_SQL = """
DROP TRIGGER IF EXISTS cases_tally_insert ON cases_case;
DROP TRIGGER IF EXISTS cases_tally_update ON cases_case;
DROP TRIGGER IF EXISTS cases_tally_delete ON cases_case;
DROP TRIGGER IF EXISTS cases_snapshot_history ON cases_caseevent;
DROP FUNCTION IF EXISTS cases_tally_apply();
DROP FUNCTION IF EXISTS cases_snapshot_history_added();
"""


def _lock(key: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def current_day() -> date | None:
    """The day the live tally is valid for, or None if it must be rebuilt first."""
    row = TallyDay.objects.filter(pk=1).values("day", "due_soon_days", "time_zone").first()
    if row is None or row["due_soon_days"] != settings.DUE_SOON_DAYS:
        return None
    if row["time_zone"] != settings.TIME_ZONE:
        return None
    return row["day"]


def is_built() -> bool:
    """The tally was built once (its deltas flow from then on, whatever the day)."""
    return TallyDay.objects.filter(pk=1).exists()


def ensure_current(today: date | None = None) -> date:
    """Rebuild the tally if it is not today's; returns today."""
    today = today or timezone.localdate()
    if current_day() != today:
        refresh(today, only_if_stale=True)
    return today


@transaction.atomic
def refresh(today: date | None = None, *, only_if_stale: bool = False) -> None:
    """Rebuild the live tally from the cases, with lights as of `today`.

    Takes the day row's lock: writers (who share it) finish first, later ones wait for the
    commit, so every delta lands either in the rebuilt counts or after them.
    """
    today = today or timezone.localdate()
    _lock(TALLY_LOCK)
    if only_if_stale and current_day() == today:
        return  # another reader rebuilt it while this one waited for the lock
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO cases_tallyday (id, day, due_soon_days, time_zone) VALUES (1, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET day = EXCLUDED.day,"
            " due_soon_days = EXCLUDED.due_soon_days, time_zone = EXCLUDED.time_zone",
            [today, settings.DUE_SOON_DAYS, settings.TIME_ZONE],
        )
        cursor.execute("DELETE FROM cases_completiontally")
        cursor.execute(
            _tally_insert("cases_case", alias="cases_case", sign="1", day="%(day)s::date"),
            {"day": today},
        )


@transaction.atomic
def compact() -> None:
    """Add the delta rows up: one row per group again (figures unchanged)."""
    if not available():
        return
    _lock(TALLY_LOCK)
    columns = ", ".join(FIGURE_COLUMNS)
    sums = ", ".join(f"SUM({c})" for c in FIGURE_COLUMNS)
    nonzero = " OR ".join(f"SUM({c}) <> 0" for c in FIGURE_COLUMNS)
    dims = ", ".join(DIMS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM cases_completiontally RETURNING *) "
            f"INSERT INTO cases_completiontally ({dims}, {columns}) "
            f"SELECT {dims}, {sums} FROM gone GROUP BY {dims} HAVING {nonzero}"
        )


def has_snapshot(day: date) -> bool:
    return CompletionSnapshot.objects.filter(day=day).exists()


def built_days(days: list[date]) -> set[date]:
    """Which of `days` have their snapshot built: one query."""
    if not days:
        return set()
    # One index probe a day, not a scan of every built day's rows.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d FROM unnest(%s::date[]) AS d WHERE EXISTS"
            " (SELECT 1 FROM cases_completionsnapshot s WHERE s.day = d)",
            [list(days)],
        )
        return {row[0] for row in cursor.fetchall()}


def first_kept_day(today: date) -> date:
    """The earliest day whose figures are kept (and may be asked for): TALLY_SNAPSHOT_DAYS back.
    Holds on every database, so the API answers the same on the demo as in production."""
    return today - timedelta(days=settings.TALLY_SNAPSHOT_DAYS)


def kept_days_in_order(today: date) -> list[date]:
    """Every kept past day, the ones readers need first first: yesterday, the dashboard trend's
    month ends, then the rest from the newest back."""
    from .dashboard import TREND_POINTS, month_ends

    first, yesterday = first_kept_day(today), today - timedelta(days=1)
    wanted = [yesterday, *sorted((d for d in month_ends(today, TREND_POINTS) if d < today),
                                 reverse=True)]  # fmt: skip
    wanted += [yesterday - timedelta(days=n) for n in range((yesterday - first).days + 1)]
    return [day for day in dict.fromkeys(wanted) if first <= day <= yesterday]


def build_missing_snapshots(today: date, *, limit: int) -> list[date]:
    """Build up to `limit` missing snapshots of kept days (beat's job); returns those built."""
    order = kept_days_in_order(today)
    built = built_days(order)
    missing = [day for day in order if day not in built][:limit]
    for day in missing:
        ensure_snapshot(day)
    return missing


def prune_snapshots(today: date) -> int:
    """Drop snapshots of days no longer kept: the table stays TALLY_SNAPSHOT_DAYS deep."""
    deleted, _counts = CompletionSnapshot.objects.filter(day__lt=first_kept_day(today)).delete()
    return deleted


def ensure_snapshot(day: date) -> None:
    """Build the figures as of the end of `day` (a past day) from the history, once."""
    if day >= timezone.localdate():
        raise ValueError("snapshots are of past days; today's figures are the live tally")
    if CompletionSnapshot.objects.filter(day=day).exists():
        return
    with transaction.atomic():
        _lock(SNAPSHOT_LOCK)
        if CompletionSnapshot.objects.filter(day=day).exists():
            return
        _build_snapshot(day)


def _build_snapshot(day: date) -> None:
    from .completion import end_of_day

    moment = end_of_day(day)
    sums = figure_sums(
        status="s.to_status",
        deadline="d.deadline",
        late="s.was_overdue",
        case="c",
        day="%(day)s::date",
    )
    dims = ", ".join(f"c.{dim}" for dim in DIMS)
    columns = f"day, {', '.join(DIMS)}, {', '.join(FIGURE_COLUMNS)}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH s AS (
                SELECT DISTINCT ON (case_id) case_id, to_status, was_overdue
                  FROM cases_caseevent WHERE created_at < %(moment)s AND to_status <> ''
                 ORDER BY case_id, created_at DESC, id DESC
            ), d AS (
                SELECT DISTINCT ON (case_id) case_id, deadline
                  FROM cases_caseevent WHERE created_at < %(moment)s AND deadline IS NOT NULL
                 ORDER BY case_id, created_at DESC, id DESC
            )
            INSERT INTO cases_completionsnapshot ({columns})
            SELECT %(day)s, {dims}, {", ".join(sums)}
              FROM cases_case c JOIN s ON s.case_id = c.id LEFT JOIN d ON d.case_id = c.id
             WHERE c.created_at < %(moment)s
             GROUP BY {dims}
            """,
            {"moment": moment, "day": day},
        )
        if cursor.rowcount == 0:
            # An empty day still gets a row, so "built" and "nothing then" are told apart.
            zeros = ", ".join("0" for _column in FIGURE_COLUMNS)
            cursor.execute(
                f"INSERT INTO cases_completionsnapshot (day, {', '.join(DIMS)},"
                f" {', '.join(FIGURE_COLUMNS)}) VALUES (%s, 0, 0, 0, NULL, {zeros})",
                [day],
            )
