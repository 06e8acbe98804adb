"""Real Celery workers for the fault tests: a worker process on the test's Redis database and
PostgreSQL database, its JSON log, and the means to hold a task at a known point (a row lock
the test takes, seen waiting in pg_stat_activity) before killing it. The `queue` and `workers`
fixtures are in conftest.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
from django.db import connection

from .conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
LEASE = 2  # seconds a reminder sender holds a message
VISIBILITY = 4  # seconds before an unacknowledged message is delivered again


def dsn() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    def __init__(
        self,
        queue: str,
        folder: Path,
        name: str,
        pool: str,
        visibility: int,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = folder / f"{name}.log"
        environment = {
            **os.environ,
            "DATABASE_URL": dsn(),
            "REDIS_URL": REDIS_URL,
            "TRACKER_VAR_DIR": str(folder / "var"),
            "DJANGO_DEBUG": "true",
            "LOG_FORMAT": "json",
            "REMINDER_CHANNELS": "in_app",
            "REMINDER_LEASE_SECONDS": str(LEASE),
            "CELERY_VISIBILITY_TIMEOUT": str(visibility),
            "CELERY_UNACKED_RESTORE_SECONDS": "1",
            **(env or {}),
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 (a fixed argument list, no shell)
                [str(CELERY), "-A", "tracker", "worker", "-Q", queue, "-n", f"{name}@faults",
                 "--pool", pool, "--concurrency", "1", "--without-heartbeat",
                 "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
                cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for(lambda: b" ready." in self.log.read_bytes(), 40, self)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def json_logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines() if line.startswith("{")]

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def stop(self) -> None:
        """Killed: its tasks are done (a warm shutdown of a pool takes seconds)."""
        if self.process.poll() is None:
            children = self.children()
            self.process.kill()
            for pid in children:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def wait_for(condition: Callable[[], Any], seconds: float, worker: Worker | None = None) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        if worker is not None:
            assert worker.process.poll() is None, worker.text()
        assert time.monotonic() < deadline, worker.text() if worker else "timed out"
        time.sleep(0.1)


@contextmanager
def row_lock(sql: str, params: list[Any]) -> Iterator[psycopg.Connection]:
    """Hold row locks in a transaction of a separate connection until the block ends."""
    with psycopg.connect(dsn(), autocommit=False) as holder:
        holder.execute(sql, params)
        try:
            yield holder
        finally:
            holder.rollback()


def waiting_on_lock(query_start: str) -> int | None:
    """The backend (pid) waiting on a lock while running a statement starting so."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            [query_start + "%"],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def backend_gone(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 0


def received(worker: Worker, task: str) -> int:
    messages = [entry["message"] for entry in worker.json_logs()]
    return sum(1 for message in messages if "received" in message and task in message)
