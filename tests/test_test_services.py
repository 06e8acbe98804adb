"""scripts/test-services: `make test` on a machine where PostgreSQL and Redis are installed
but not running brings up throwaway servers of its own, and takes them down afterwards."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from glob import glob
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from django.conf import settings

pytestmark = pytest.mark.services

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "test-services"
INSTALLED = (shutil.which("initdb") or glob("/usr/lib/postgresql/*/bin/initdb")) and shutil.which(
    "redis-server"
)


def script(*args: object, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("timeout", 60)
    kwargs.setdefault("check", True)
    return subprocess.run([SCRIPT, *map(str, args)], text=True, **kwargs)  # noqa: S603 (fixed)


def answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


def closed_port() -> int:
    """A port nothing listens on (bound and let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def script_env(**urls: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_XDIST_WORKER"}}
    env.update(urls)
    return env


def read_env(path: Path) -> dict[str, str]:
    """The `export NAME=value` lines the script writes."""
    found = {}
    for line in path.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        found[name] = shlex.split(value)[0]
    return found


@pytest.fixture
def folder() -> Iterator[Path]:
    # Not pytest's tmp_path: under root that lies in a folder only root may enter, and the
    # PostgreSQL server runs as the postgres user.
    parent = Path(tempfile.mkdtemp(prefix="test-services-"))
    parent.chmod(0o755)
    yield parent / "servers"
    script("stop", parent / "servers", check=False)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.skipif(not INSTALLED, reason="PostgreSQL's initdb or redis-server not installed")
def test_it_starts_working_servers_on_free_ports_and_stops_them(folder):
    configured = script_env(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port()}/tracker_throwaway",
        REDIS_URL=f"redis://127.0.0.1:{closed_port()}/3",
        REDIS_CACHE_URL=f"redis://127.0.0.1:{closed_port()}/4",
    )
    script("start", folder, env=configured)

    urls = read_env(folder / "env")
    database, broker, cache = urls["DATABASE_URL"], urls["REDIS_URL"], urls["REDIS_CACHE_URL"]
    assert database != configured["DATABASE_URL"]
    # The configured database name and Redis numbers are kept; only the address changes.
    assert urlsplit(database).path == "/tracker_throwaway"
    assert (urlsplit(broker).path, urlsplit(cache).path) == ("/3", "/4")
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("CREATE TABLE probe (id int PRIMARY KEY)")
        connection.execute("INSERT INTO probe VALUES (1)")
        assert connection.execute("SELECT id FROM probe").fetchall() == [(1,)]
    assert redis.Redis.from_url(broker).ping() is True
    assert redis.Redis.from_url(cache).ping() is True

    script("stop", folder)
    assert not answers(database)
    assert not answers(broker)
    assert not folder.exists()


def test_it_uses_the_servers_that_answer(tmp_path):
    """CI: what runs at the configured addresses is used as it is, nothing started."""
    database = settings.DATABASES["default"]
    running = script_env(
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/x",
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        REDIS_CACHE_URL=os.environ.get("REDIS_CACHE_URL", "redis://127.0.0.1:6379/14"),
    )
    if not all(answers(running[name]) for name in ("DATABASE_URL", "REDIS_URL")):
        pytest.skip("the suite's own servers are not at a TCP address")
    shown = script(
        "run",
        "sh",
        "-c",
        'echo "$DATABASE_URL $REDIS_URL $REDIS_CACHE_URL"',
        env={**running, "TMPDIR": str(tmp_path)},
        capture_output=True,
    )
    assert shown.stdout.split() == [
        running["DATABASE_URL"],
        running["REDIS_URL"],
        running["REDIS_CACHE_URL"],
    ]
    assert "starting" not in shown.stderr
    assert list(tmp_path.iterdir()) == []  # no throwaway folder made


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed")
def test_it_starts_what_does_not_answer_for_the_command_and_removes_it_after(tmp_path):
    """`make test` with Redis not running: one for the run, gone after it, whatever the
    command's outcome (its exit status is passed on)."""
    closed = f"redis://127.0.0.1:{closed_port()}/2"
    check = (
        "import os, sys, redis; redis.Redis.from_url(os.environ['REDIS_URL']).ping(); sys.exit(3)"
    )
    run = script(
        "run",
        sys.executable,
        "-c",
        check,
        env={**script_env(REDIS_URL=closed, REDIS_CACHE_URL=closed), "TMPDIR": str(tmp_path)},
        capture_output=True,
        check=False,
    )
    assert run.returncode == 3, run.stderr
    assert "starting throwaway servers" in run.stderr
    port = re.search(r"started Redis on 127.0.0.1:(\d+)", run.stderr)
    assert port is not None, run.stderr
    assert not answers(f"redis://127.0.0.1:{port[1]}")
    assert list(tmp_path.iterdir()) == []
