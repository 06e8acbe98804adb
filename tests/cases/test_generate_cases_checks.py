"""`generate_cases --bench` into an empty database: foreign keys checked in bulk after the load
and the roll-up triggers left to the recount (`synthetic.checks`), with the guarantees of the
per-row checks: a bad row fails the load and nothing is stored."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from cases import tally
from cases.models import CompletionSnapshot, Unit
from tests.cases.test_generate_cases import _schema, cases_of, run

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="bench mode: PostgreSQL only"),
    pytest.mark.filterwarnings(
        "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"
    ),
]

NO_ONE = 10**12  # no user or unit has this id


@pytest.fixture(autouse=True)
def debug_on(settings: Any) -> None:
    settings.DEBUG = True


def _role() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('session_replication_role')")
        return str(cursor.fetchone()[0])


def _spoil(monkeypatch: Any, where: str) -> str:
    """Make one row of the load reference a user that does not exist; returns the constraint
    that must catch it."""
    from synthetic import bench

    if where == "case":
        original_case = bench.case_row

        def case_row(rec: Any) -> tuple[Any, ...]:
            row = original_case(rec)
            if rec.code.endswith("-007"):
                owner = bench.CASE_COLUMNS.index("owner_id")
                row = (*row[:owner], NO_ONE, *row[owner + 1 :])
            return row

        monkeypatch.setattr(bench, "case_row", case_row)
        return "cases_case_owner_id"
    original_events = bench.events

    def events(rec: Any) -> Any:
        for number, event in enumerate(original_events(rec)):
            spoilt = rec.code.endswith("-009") and number == 0
            yield event._replace(actor_id=NO_ONE) if spoilt else event

    monkeypatch.setattr(bench, "events", events)
    return "cases_caseevent_actor_id"


@pytest.mark.parametrize("where", ["case", "event"])
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_row_with_a_missing_reference_fails_the_load_and_nothing_is_stored(
    monkeypatch, where, jobs
):
    before = _schema()
    constraint = _spoil(monkeypatch, where)
    with pytest.raises(IntegrityError, match=rf"{constraint}.*Nothing was written"):
        run(30, 400, "--bench", "--jobs", jobs, "--batch-size", "50")
    assert not Unit.objects.filter(name="合成省（种子30）").exists()
    assert not cases_of(30).exists()
    assert _schema() == before
    assert _role() == "origin"
    monkeypatch.undo()
    output = run(30, 400, "--bench", "--jobs", jobs, "--batch-size", "50")
    assert "11 foreign keys checked" in output
    assert cases_of(30).count() == 400
    assert _role() == "origin"


@pytest.mark.parametrize("bulk", [True, False])
def test_the_loaded_history_drops_the_snapshots_it_changes_either_way(monkeypatch, bulk):
    """As the history trigger would: a snapshot of a day the loaded history reaches is dropped
    (beat builds it again), an earlier one is kept."""
    from synthetic import checks

    if not bulk:
        monkeypatch.setattr(checks, "usable", lambda cursor: "row by row, for the test")
    yesterday = timezone.localdate() - timedelta(days=1)
    long_ago = date(2000, 1, 3)
    for day in (long_ago, yesterday):
        tally.ensure_snapshot(day)
    output = run(31, 300, "--bench")
    assert ("foreign keys checked row by row" in output) is not bulk
    assert ("11 foreign keys checked (" in output) is bulk
    assert set(CompletionSnapshot.objects.values_list("day", flat=True)) == {long_ago}


def test_an_insert_trigger_it_cannot_redo_keeps_the_per_row_checks():
    """A trigger the bulk path does not know of must fire: the load then keeps every trigger
    and checks each row's foreign keys as it is written."""
    from synthetic import checks

    with connection.cursor() as cursor:
        assert checks.usable(cursor) is None
        cursor.execute(
            "CREATE FUNCTION pg_temp.noted() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RETURN NULL; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER synthetic_noted AFTER INSERT ON cases_checkpoint "
            "FOR EACH ROW EXECUTE FUNCTION pg_temp.noted()"
        )
        assert "synthetic_noted" in (checks.usable(cursor) or "")
    output = run(32, 200, "--bench")
    assert "foreign keys checked row by row: insert trigger(s)" in output
    assert cases_of(32).count() == 200


def test_a_role_that_may_not_set_the_replication_role_keeps_the_per_row_checks():
    from synthetic import checks

    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE synthetic_not_super NOLOGIN")  # rolled back with the test
        cursor.execute("SET LOCAL ROLE synthetic_not_super")
        try:
            assert checks.usable(cursor) == "no right to set session_replication_role"
        finally:
            cursor.execute("RESET ROLE")
        assert checks.usable(cursor) is None
