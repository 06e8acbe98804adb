"""Completion roll-ups: the figures of a million cases as sums over a few thousand rows.

The completion module (`cases.completion`) defines the figures and computes them from the cases
themselves; this module keeps the same figures pre-counted, exactly, on PostgreSQL:

- `cases_completiontally` holds, per (inspection, responsible unit, supervising unit, region),
  how many problems and leaves are in each status, on time, and in each deadline light. Triggers
  on `cases_case` add a delta row in the transaction of every insert, update or delete that
  changes a counted column (one INSERT per statement: no row is updated, so concurrent writers
  never wait on each other or deadlock here). `compact()` adds the deltas up now and then.
- Lights depend on the day, the due-soon window and, for working-day inspections, the
  calendar (the rule: `cases.lights`): the tally's are those of `TallyDay.day`,
  `TallyDay.due_soon_days` and the working-day boundaries `TallyDay.work_red`/`work_soon`,
  which the triggers read. Beat's `cases.maintain_tally` builds the tally and rebuilds it for
  each new day, and when `DUE_SOON_DAYS`, the time zone or a site calendar day differs from
  what it was built with (`TallyDay.calendar_key`), under a lock that writers share, so no
  delta computed for the old day or window lands after the rebuild. A read never builds: until
  the tally is today's with today's settings and calendar, readers count the cases instead
  (`completion.figures`), by the settings and calendar as they are. An inspection's changed
  working-day flag recounts its cases in the same transaction (a trigger on the inspection).
- `cases_completionsnapshot` holds the same figures as of the end of a past day, built once from
  the history by the same rule as `completion._state`, by beat only (`build_missing_snapshots`)
  and only for the kept days (`first_kept_day` to yesterday). A history row dated on or before a
  snapshot's day, or a case moving to another unit, inspection or level, drops the snapshots it
  could change (a trigger again), so a snapshot is never stale; beat builds them again.

Everything here is PostgreSQL-only; elsewhere (the SQLite demo) the figures are computed live.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, connections, router, transaction
from django.utils import timezone

from .lights import DayBounds
from .models import Case, CaseEvent, CompletionSnapshot, TallyDay
from .tally_sql import (
    CALENDAR_KEY_SQL,
    DIMS,
    FIGURE_COLUMNS,
    SNAPSHOT_LOCK,
    DaySql,
    figure_sums,
    inspection_join,
    tally_insert,
)

# pg_advisory_xact_lock key for rebuilding and compacting the tally (the snapshots' key,
# shared by the history trigger, is tally_sql.SNAPSHOT_LOCK).
TALLY_LOCK = 7_315_001


def available() -> bool:
    return connection.vendor == "postgresql"


def load_triggers() -> list[tuple[str, str]]:
    """(table, trigger) of the triggers a bulk load may turn off while it loads, then recount
    (`refresh`) and drop the snapshots: the roll-ups' insert triggers. Their names are
    pgtrigger's (declared in the models' Meta.triggers)."""
    wanted = [(Case, "tally_insert"), (CaseEvent, "snapshot_history")]
    return [
        (model._meta.db_table, trigger.get_pgid(model))
        for model, name in wanted
        for trigger in model._meta.triggers  # type: ignore[attr-defined]  # pgtrigger's Meta
        if trigger.name == name
    ]


def _lock(key: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _reader() -> Any:
    """The connection of a read about the roll-ups: the database the router reads them from
    (the replica in a replica-reading view, tracker/db_router.py), so what a reader learns of
    the day and of the built snapshots describes the very rows it then sums. Asked of the
    primary while the replica had not replayed a snapshot yet, a sum over the replica's (no)
    rows would be remembered under the build's version (`kept_sums`), wrong for good."""
    return connections[router.db_for_read(TallyDay)]


def current_day() -> date | None:
    """The day the live tally is valid for, or None if it must be rebuilt first (a changed
    window, time zone, site calendar day or inspection's working-day flag): one query."""
    with _reader().cursor() as cursor:
        cursor.execute(
            "SELECT day, due_soon_days, time_zone, calendar_key = "
            f"{CALENDAR_KEY_SQL} FROM cases_tallyday WHERE id = 1"
        )
        row = cursor.fetchone()
    if row is None or row[1] != settings.DUE_SOON_DAYS or row[2] != settings.TIME_ZONE:
        return None
    return row[0] if row[3] else None


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
    """Rebuild the live tally from the cases, with lights as of `today` and the due-soon window
    of the settings now; the triggers count later writes by the same day and window.

    Takes the day row's lock: writers (who share it) finish first, later ones wait for the
    commit, so every delta lands either in the rebuilt counts or after them. A changed window
    or time zone also drops the snapshots (counted by the old ones); beat builds them again.
    """
    today = today or timezone.localdate()
    _lock(TALLY_LOCK)
    if only_if_stale and current_day() == today:
        return  # another reader rebuilt it while this one waited for the lock
    window, zone = settings.DUE_SOON_DAYS, settings.TIME_ZONE
    work = DayBounds(today, window).working  # read from the calendar now, not remembered
    before = TallyDay.objects.filter(pk=1).values_list("due_soon_days", "time_zone").first()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT calendar_key <> " + CALENDAR_KEY_SQL + " FROM cases_tallyday WHERE id = 1"
        )
        calendar_changed = bool((cursor.fetchone() or [False])[0])
        cursor.execute(
            "INSERT INTO cases_tallyday"
            " (id, day, due_soon_days, time_zone, work_red, work_soon, calendar_key)"
            f" VALUES (1, %s, %s, %s, %s, %s, {CALENDAR_KEY_SQL})"
            " ON CONFLICT (id) DO UPDATE SET day = EXCLUDED.day,"
            " due_soon_days = EXCLUDED.due_soon_days, time_zone = EXCLUDED.time_zone,"
            " work_red = EXCLUDED.work_red, work_soon = EXCLUDED.work_soon,"
            " calendar_key = EXCLUDED.calendar_key",
            [today, window, zone, work.red, work.soon],
        )
        if calendar_changed or (before is not None and before != (window, zone)):
            # The snapshots counted by the old window, zone or calendar: beat builds them again.
            cursor.execute("DELETE FROM cases_completionsnapshot")
        cursor.execute("DELETE FROM cases_completiontally")
        on = DaySql(
            day="%(day)s::date",
            window="%(window)s::integer",
            work_red="%(work_red)s::date",
            work_soon="%(work_soon)s::date",
        )
        cursor.execute(
            tally_insert("cases_case", alias="cases_case", sign="1", on=on),
            {"day": today, "window": window, "work_red": work.red, "work_soon": work.soon},
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


# Snapshots count by the settings of their build; `refresh` drops them when the settings change.
# Until beat has (the day row still holds the old settings), none of them is used.
_SETTINGS_KEPT = (
    "EXISTS (SELECT 1 FROM cases_tallyday t WHERE t.id = 1"
    " AND t.due_soon_days = %(window)s AND t.time_zone = %(zone)s"
    f" AND t.calendar_key = {CALENDAR_KEY_SQL})"
)


def has_snapshot(day: date) -> bool:
    """`day`'s snapshot is built, by the settings as they are: one query."""
    return day in built_days([day])


def built_days(days: list[date]) -> set[date]:
    """Which of `days` have their snapshot built, by the settings as they are: one query."""
    if not days:
        return set()
    # One index probe a day, not a scan of every built day's rows.
    with _reader().cursor() as cursor:
        cursor.execute(
            "SELECT d FROM unnest(%(days)s::date[]) AS d WHERE EXISTS"
            f" (SELECT 1 FROM cases_completionsnapshot s WHERE s.day = d) AND {_SETTINGS_KEPT}",
            {"days": list(days), "window": settings.DUE_SOON_DAYS, "zone": settings.TIME_ZONE},
        )
        return {row[0] for row in cursor.fetchall()}


def built_versions(days: list[date]) -> dict[date, str]:
    """Which of `days` have their snapshot built, by the settings as they are, each with the
    version of its build: one query, one index probe a day.

    A day's snapshot is written by one INSERT (`ensure_snapshot`, in a transaction or savepoint
    of its own) and is only ever dropped whole, never updated, so the transaction id that wrote
    its rows (xmin) names that build; with which ledgers are restricted (a figure of the
    rectification ledgers leaves the others out) it names what a sum over the rows can be."""
    if not days:
        return {}
    with _reader().cursor() as cursor:
        cursor.execute(
            "SELECT d, v || ':' || (SELECT md5(COALESCE(string_agg(i.id::text, ','"
            " ORDER BY i.id), '')) FROM cases_inspection i WHERE i.restricted)"
            " FROM unnest(%(days)s::date[]) AS d, LATERAL (SELECT s.xmin::text AS v"
            " FROM cases_completionsnapshot s WHERE s.day = d LIMIT 1) AS built"
            f" WHERE {_SETTINGS_KEPT}",
            {"days": list(days), "window": settings.DUE_SOON_DAYS, "zone": settings.TIME_ZONE},
        )
        return {row[0]: row[1] for row in cursor.fetchall()}


# Sums over built snapshots, by the query's text and the days' versions (`built_versions`): a
# build never changes, so neither does a sum over it; a process keeps the latest few.
_SUMS: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_SUMS_KEPT = 256
_SUMS_LOCK = threading.Lock()


def kept_sums(key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """`compute()`'s value for `key` (which must name every input of it), remembered."""
    with _SUMS_LOCK:
        if key in _SUMS:
            _SUMS.move_to_end(key)
            return _SUMS[key]
    value = compute()
    with _SUMS_LOCK:
        _SUMS[key] = value
        while len(_SUMS) > _SUMS_KEPT:
            _SUMS.popitem(last=False)
    return value


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
    window = settings.DUE_SOON_DAYS
    work = DayBounds(day, window).working
    on = DaySql(
        day="%(day)s::date",
        window="%(window)s::integer",
        work_red="%(work_red)s::date",
        work_soon="%(work_soon)s::date",
    )
    sums = figure_sums(
        status="s.to_status", deadline="d.deadline", late="s.was_overdue", case="c", on=on
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
                   {inspection_join("c")}
             WHERE c.created_at < %(moment)s
             GROUP BY {dims}
            """,
            {
                "moment": moment,
                "day": day,
                "window": window,
                "work_red": work.red,
                "work_soon": work.soon,
            },
        )
        if cursor.rowcount == 0:
            # An empty day still gets a row, so "built" and "nothing then" are told apart.
            zeros = ", ".join("0" for _column in FIGURE_COLUMNS)
            cursor.execute(
                f"INSERT INTO cases_completionsnapshot (day, {', '.join(DIMS)},"
                f" {', '.join(FIGURE_COLUMNS)}) VALUES (%s, 0, 0, 0, NULL, {zeros})",
                [day],
            )
