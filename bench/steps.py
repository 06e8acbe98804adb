"""The bench's processes and databases: child steps with their time and peak memory, the
bench databases (dropped and recreated), and the production server under test."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from common import HOST, ROOT, request
from psycopg import sql


@dataclass
class Step:
    seconds: float
    peak_mb: float
    stdout: str
    stderr: str
    ok: bool = True


def run_step(
    args: list[str], env: dict[str, str], *, check: bool = True, timeout: float | None = None
) -> Step:
    """Run a child process, with its wall time and its own peak resident memory (wait4);
    killed after `timeout` seconds (then not ok)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=err)  # noqa: S603 (commands written in this script, no shell)
        timer = threading.Timer(timeout or 0, process.kill)
        if timeout:
            timer.start()
        _pid, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        step = Step(
            seconds,
            usage.ru_maxrss / 1024,
            out.read().decode(),
            err.read().decode(),
            process.returncode == 0,
        )
        if timeout and seconds >= timeout:
            step.stderr += f"\nkilled after {timeout:g} s"
    if check and process.returncode != 0:
        raise SystemExit(
            f"{' '.join(args[:4])} failed ({process.returncode}):\n{step.stderr[-3000:]}"
        )
    return step


def last_json(text: str) -> Any:
    return json.loads(text.strip().splitlines()[-1])


def database_url(base: str, name: str) -> str:
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/")


def recreate_database(url: str) -> None:
    name = database_name(url)
    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_exists(url: str) -> bool:
    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database_name(url)]
        ).fetchone()
    return found is not None


def vacuum_analyze(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def database_facts(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        version = conn.execute("SHOW server_version").fetchone()
    return {
        "database_mb": round((size[0] if size else 0) / 2**20),
        "postgres": version[0] if version else "",
    }


def environment(url: str, exports: Path) -> dict[str, str]:
    """Production settings (debug off) on the bench database, for the server and every step."""
    # Not make's own variables: `make bench DATABASE_URL=…` passes them to the `make serve`
    # started here, where they would override this size's database.
    inherited = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    return {
        **inherited,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        # One key for every step of this size: generation seals the history the server extends.
        "HISTORY_SEAL_KEY": secrets.token_urlsafe(32),
        "DJANGO_ALLOWED_HOSTS": f"{HOST},testserver",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "API_THROTTLE_USER": "1000000/minute",
        "LEDGER_FILES_ROOT": str(exports),
        "DJANGO_LOG_LEVEL": "WARNING",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """`make serve` in its own process group (make, the shell and gunicorn stop together)."""

    def __init__(self, env: dict[str, str], port: int, logfile: Path) -> None:
        self.port = port
        self.logfile = logfile
        self.out = logfile.open("wb")
        # -o: the bench target already installed the package; never reinstall mid-run.
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/.installed-base", "serve"],  # noqa: S607 (make on PATH, as a developer runs it)
            cwd=ROOT,
            env={**env, "PORT": str(port)},
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server stopped; see {self.logfile}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if request(self.port, "GET", "/healthz", timeout=2).status == 200:
                    return
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"the server did not answer /healthz; see {self.logfile}")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.out.close()
