"""The SQLite demo's append-only guard on the case history (cases.history_guard)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cases.history_guard import SQLITE_GUARD


def test_it_refuses_update_and_delete_of_history_on_sqlite() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE cases_caseevent (id integer primary key, note text)")
    db.execute("INSERT INTO cases_caseevent (note) VALUES ('登记')")
    for statement in SQLITE_GUARD:
        db.execute(statement)
    for statement in SQLITE_GUARD:  # idempotent: installed again after every migrate
        db.execute(statement)
    with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE"):
        db.execute("UPDATE cases_caseevent SET note = '改过'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE"):
        db.execute("DELETE FROM cases_caseevent")
    db.execute("INSERT INTO cases_caseevent (note) VALUES ('督办')")
    assert db.execute("SELECT note FROM cases_caseevent ORDER BY id").fetchall() == [
        ("登记",),
        ("督办",),
    ]


def test_the_demo_database_gets_the_guard_after_migrate(tmp_path: Path) -> None:
    """`manage.py migrate` on a fresh SQLite demo database installs the triggers."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DATABASE_REPLICA_URL")
    }
    env.update(TRACKER_VAR_DIR=str(tmp_path), DJANGO_DEBUG="true")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        check=True,
        timeout=300,
    )
    (database,) = tmp_path.glob("*.sqlite3")
    with sqlite3.connect(database) as db:
        found = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        names = {name for (name,) in found}
        assert {"cases_caseevent_no_update", "cases_caseevent_no_delete"} <= names
