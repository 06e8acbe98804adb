"""The SQL of the completion roll-ups (`cases.tally`): their figures, and the bodies of the
triggers that keep them (declared on `Case` and `CaseEvent` with django-pgtrigger).

Built from the light rule (`cases.lights`) and the workflow's states, never from a setting or
a calendar: the triggers read the tally's day, due-soon window and working-day boundaries from
the `cases_tallyday` row, which `tally.refresh` writes (from the settings and the calendar,
when beat rebuilds the tally). A case's inspection says which boundaries count
(`Inspection.working_days`, joined: one small table, no per-row calendar lookup; a changed flag
recounts its cases in a trigger on the inspection). Changing the rule here changes the
triggers' SQL, and `makemigrations` then writes a migration that installs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lights import LIGHTS, light_sql
from .workflow import DONE_STATES, Status

# "p_*" count problems, "i_*" the leaves of item level (cases.completion's levels).
FIGURE_NAMES = (*Status.values, "on_time", *LIGHTS)
FIGURE_COLUMNS = tuple(f"{level}_{name}" for level in ("p", "i") for name in FIGURE_NAMES)
DIMS = ("inspection_id", "responsible_unit_id", "supervising_unit_id", "region_id")
# A statement changes the figures only if one of these changes.
COUNTED = ("status", "deadline", "overdue_at_close", "parent_id", "items_total", *DIMS)
# Moving a case to another group or level changes its past as well as its present.
REGROUPING = ("parent_id", "items_total", *DIMS)
# pg_advisory_xact_lock key of the snapshots: builders take it exclusively, writers of
# back-dated history share it.
SNAPSHOT_LOCK = 7_315_002

_DONE_SQL = ", ".join(f"'{state}'" for state in sorted(DONE_STATES))


# The key of the calendar the working-day boundaries come from: the site's calendar rows. A
# change makes the roll-ups stale until beat rebuilds them (readers count meanwhile).
CALENDAR_KEY_SQL = (
    "md5(COALESCE((SELECT string_agg(date::text || kind, ',' ORDER BY date, kind)"
    " FROM reminders_calendarday WHERE unit_id IS NULL), ''))"
)
# The case's inspection, joined as `wi` to every source of figures: its working-day flag.
_INSPECTION_JOIN = "JOIN {inspections} wi ON wi.id = {alias}.inspection_id"
_WORKING = "wi.working_days"


@dataclass(frozen=True)
class DaySql:
    """SQL expressions of the day the lights are counted for: the day and the window (calendar
    days), and the working-day boundaries of that day (`cases.lights.Bounds`)."""

    day: str
    window: str
    work_red: str
    work_soon: str


def figure_sums(
    *, status: str, deadline: str, late: str, case: str, on: DaySql, sign: str = "1"
) -> list[str]:
    """SQL sums of every figure column, in FIGURE_COLUMNS order, over rows where `status`,
    `deadline` and `late` are the case's state, `case` its table alias, joined to its
    inspection as `wi` (`_INSPECTION_JOIN`). The lights are those of the day `on`."""
    done = f"{status} IN ({_DONE_SQL})"
    red = f"(CASE WHEN {_WORKING} THEN {on.work_red} ELSE {on.day} - 1 END)"
    soon = f"(CASE WHEN {_WORKING} THEN {on.work_soon} ELSE {on.day} + {on.window} END)"
    conditions = {
        **{value: f"{status} = '{value}'" for value in Status.values},
        "on_time": f"{done} AND {late} = false",
        **{
            light: light_sql(light, status=status, deadline=deadline, red=red, soon=soon)
            for light in LIGHTS
        },
    }
    levels = {"p": f"{case}.parent_id IS NULL", "i": f"{case}.items_total = 0"}
    return [
        f"COALESCE(SUM(CASE WHEN {levels[level]} AND {conditions[name]} THEN {sign} END), 0)"
        for level in ("p", "i")
        for name in FIGURE_NAMES
    ]


def tally_insert(
    source: str, *, alias: str, sign: str, on: DaySql, inspections: str = "cases_inspection"
) -> str:
    """INSERT of the figures of the cases in `source` (aliased `alias`) into the tally, counted
    with `sign` (1 or -1), one row per group, with the lights of the day `on` and the
    working-day flags of `inspections` (the table, or a trigger's transition table)."""
    dims = ", ".join(f"{alias}.{dim}" for dim in DIMS)
    sums = figure_sums(
        status=f"{alias}.status",
        deadline=f"{alias}.deadline",
        late=f"{alias}.overdue_at_close",
        case=alias,
        on=on,
        sign=sign,
    )
    joined = _INSPECTION_JOIN.format(inspections=inspections, alias=alias)
    return (
        f"INSERT INTO cases_completiontally ({', '.join(DIMS)}, {', '.join(FIGURE_COLUMNS)}) "
        f"SELECT {dims}, {', '.join(sums)} FROM {source} {joined} GROUP BY {dims}"
    )


def inspection_join(alias: str) -> str:
    """The join every source of figures adds: the case's inspection as `wi`."""
    return _INSPECTION_JOIN.format(inspections="cases_inspection", alias=alias)


# --- Trigger bodies (PL/pgSQL between BEGIN and END; pgtrigger writes the rest) -------------
# Statement triggers on cases_case add one delta row per group in the writer's transaction
# (one INSERT per statement: no row is updated, so concurrent writers never wait on each other
# or deadlock here). The lights are those of the tally's own day and window.

TALLY_DECLARE = [
    ("tally_day", "date"), ("soon_days", "integer"), ("red_day", "date"), ("soon_day", "date")
]  # fmt: skip
_TALLY_DAY = """
    -- Shared with other writers, exclusive with a rebuild (cases.tally.refresh).
    SELECT day, due_soon_days, work_red, work_soon INTO tally_day, soon_days, red_day, soon_day
      FROM cases_tallyday WHERE id = 1 FOR SHARE;
    IF NOT FOUND THEN
        RETURN NULL;  -- no tally yet: beat builds it from the cases
    END IF;
"""


def _delta(source: str, alias: str, sign: str, inspections: str = "cases_inspection") -> str:
    on = DaySql(day="tally_day", window="soon_days", work_red="red_day", work_soon="soon_day")
    return tally_insert(source, alias=alias, sign=sign, on=on, inspections=inspections) + ";"


def _distinct(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in columns)


def on_insert() -> str:
    return f"{_TALLY_DAY}    {_delta('new_rows', 'new_rows', '1')}\n    RETURN NULL;"


def on_delete() -> str:
    return (
        f"{_TALLY_DAY}    {_delta('old_rows', 'old_rows', '-1')}\n"
        "    DELETE FROM cases_completionsnapshot;\n    RETURN NULL;"
    )


def on_update() -> str:
    pairs = "old_rows o JOIN new_rows n USING (id)"
    joined = f"FROM {pairs} WHERE {_distinct(COUNTED)}"
    regrouped = f"EXISTS (SELECT 1 FROM {pairs} WHERE {_distinct(REGROUPING)})"
    return (
        f"{_TALLY_DAY}"
        f"    {_delta(f'(SELECT o.* {joined}) AS c', 'c', '-1')}\n"
        f"    {_delta(f'(SELECT n.* {joined}) AS c', 'c', '1')}\n"
        f"    IF {regrouped} THEN\n"
        "        DELETE FROM cases_completionsnapshot;\n"
        "    END IF;\n"
        "    RETURN NULL;"
    )


def on_inspection_flag() -> str:
    """An inspection's working-day flag changed: its cases' lights move from one way of
    counting to the other, so their figures are taken out by the old flag and put back by the
    new one (one grouped INSERT each), and the snapshots (counted by the old flag) dropped."""
    flipped = (
        "SELECT n.id FROM old_rows o JOIN new_rows n USING (id)"
        " WHERE o.working_days IS DISTINCT FROM n.working_days"
    )
    cases = f"(SELECT c.* FROM cases_case c WHERE c.inspection_id IN ({flipped})) AS c"
    return (
        f"    IF NOT EXISTS ({flipped}) THEN\n        RETURN NULL;\n    END IF;\n"
        f"    PERFORM pg_advisory_xact_lock_shared({SNAPSHOT_LOCK});\n"
        "    DELETE FROM cases_completionsnapshot;"
        f"{_TALLY_DAY}"
        f"    {_delta(cases, 'c', '-1', inspections='old_rows')}\n"
        f"    {_delta(cases, 'c', '1', inspections='new_rows')}\n"
        "    RETURN NULL;"
    )


# A history row dated before today can change a snapshot (they are of past days): drop those
# from its day on; beat builds them again.
HISTORY_DECLARE = [("zone", "text"), ("first_day", "date")]


def on_history_added() -> str:
    return f"""
    SELECT COALESCE(max(time_zone), 'UTC') INTO zone FROM cases_tallyday WHERE id = 1;
    SELECT (min(created_at) AT TIME ZONE zone)::date INTO first_day FROM new_rows;
    IF first_day < (now() AT TIME ZONE zone)::date THEN
        PERFORM pg_advisory_xact_lock_shared({SNAPSHOT_LOCK});
        DELETE FROM cases_completionsnapshot WHERE day >= first_day;
    END IF;
    RETURN NULL;"""
