"""Throwaway PostgreSQL clusters on this machine: a primary of our own and hot standbys that
stream from a primary, for the read replica's tests (tests/replica/) and the bench's replica
step (bench/replica.py). Needs psycopg only: the bench imports it without Django.

Each cluster lives in a folder of its own under the system's temporary directory (its data
directory, its unix socket, its log), listens on 127.0.0.1 on a free port, trusts every local
connection and is fast rather than durable (fsync off). `make_standby` follows any primary
that accepts replication connections from here (`replication_refused` says whether it does),
the machine's own cluster too: it only reads from it. PostgreSQL refuses to run as root: as
root, every server program runs as the `postgres` user, which owns the folders.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import pq

SUPERUSER = "postgres"
# Settings a hot standby must have at least as high as its primary's, or it refuses to start.
AT_LEAST_THE_PRIMARYS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)
# And what the primary's queries run with, so that the standby plans and caches as it does.
AS_THE_PRIMARY = (
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
    "random_page_cost",
    "effective_io_concurrency",
    "jit",
)


class ClusterError(RuntimeError):
    pass


def server_bin() -> Path:
    """The folder of initdb, pg_ctl and pg_basebackup: on the PATH, else Debian's
    /usr/lib/postgresql/<version>/bin (the newest), else a ClusterError saying what to
    install."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        if all(os.access(Path(folder, name), os.X_OK) for name in ("initdb", "pg_ctl")):
            return Path(folder)
    raise ClusterError(
        "PostgreSQL server programs (initdb, pg_ctl, pg_basebackup) not found on the PATH or "
        "in /usr/lib/postgresql/*/bin: apt-get install postgresql (Debian/Ubuntu), "
        "brew install postgresql (macOS)"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _version(folder: str) -> tuple[int, ...]:
    name = Path(folder).parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", SUPERUSER, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], cwd: Path, timeout: float = 60) -> None:
    result = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
        _as_owner(command), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise ClusterError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def _folder(prefix: str) -> Path:
    """A fresh folder the server's user owns (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(folder, user=SUPERUSER)
        try:
            _run(["test", "-w", str(folder)], cwd=Path("/"))
        except ClusterError:
            shutil.rmtree(folder, ignore_errors=True)
            raise ClusterError(
                f"the {SUPERUSER} user cannot reach {folder} (TMPDIR inside a folder only root "
                "may enter?): set TMPDIR to a folder it can reach, e.g. /tmp"
            ) from None
    return folder


@dataclass
class Cluster:
    """One running (or stopped) PostgreSQL server: `root` holds `data/`, the socket and
    `server.log`."""

    root: Path
    port: int
    bin: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", **options: Any) -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5, **options)

    def query(self, sql: str, params: Any = None, database: str = "postgres") -> Any:
        """The first column of the first row of `sql` (None for a statement that returns no
        rows), on a connection of its own."""
        with self.connect(database) as conn:
            cursor = conn.execute(sql, params)
            row = cursor.fetchone() if cursor.description else None
        return row[0] if row else None

    def start(self) -> None:
        _run(
            [str(self.bin / "pg_ctl"), "--pgdata", str(self.data), "--log", str(self.log),
             "--wait", "--timeout", "60", "--silent", "start"],
            cwd=self.root,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast`: a clean shutdown (clients disconnected, a checkpoint); `immediate`: as if
        the machine lost power (crash recovery at the next start)."""
        _run(
            [str(self.bin / "pg_ctl"), "--pgdata", str(self.data), "--mode", mode, "--wait",
             "--timeout", "60", "--silent", "stop"],
            cwd=self.root,
        )  # fmt: skip

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        result = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
            _as_owner([str(self.bin / "pg_ctl"), "--pgdata", str(self.data), "status"]),
            cwd=self.root, capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        return result.returncode == 0

    def remove(self) -> None:
        """Stopped at once (whatever its state) and its folder deleted."""
        try:
            if self.data.exists() and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def _configure(self, settings: dict[str, str]) -> None:
        # Appended: a later line wins over what initdb or the primary's copy wrote. A copy of
        # a primary whose configuration lives elsewhere (Debian: /etc/postgresql/) has none.
        lines = "".join(f"{name} = '{value}'\n" for name, value in settings.items())
        conf = self.data / "postgresql.conf"
        before = conf.read_text() if conf.exists() else ""
        conf.write_text(before + "\n# scripts/pgcluster.py\n" + lines)

    def _common(self) -> dict[str, str]:
        return {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "fsync": "off",  # throwaway: speed over surviving a power cut
            "shared_buffers": "16MB",
            "max_connections": "40",
            "log_min_messages": "warning",
        }


HBA = """\
local all all trust
host all all 127.0.0.1/32 trust
local replication all trust
host replication all 127.0.0.1/32 trust
"""


def start_primary(port: int | None = None) -> Cluster:
    """initdb a new cluster (superuser `postgres`, trust, UTF-8), configured to feed streaming
    standbys, and start it. The caller removes it (`Cluster.remove`)."""
    cluster = Cluster(_folder("tracker-primary-"), port or free_port(), server_bin())
    try:
        _run(
            [str(cluster.bin / "initdb"), "--pgdata", str(cluster.data), "--username",
             SUPERUSER, "--auth", "trust", "--encoding", "UTF8", "--locale", "C.UTF-8",
             "--no-sync"],
            cwd=cluster.root, timeout=120,
        )  # fmt: skip
        (cluster.data / "pg_hba.conf").write_text(HBA)
        cluster._configure(
            {**cluster._common(), "wal_level": "replica", "max_wal_senders": "5",
             "wal_keep_size": "256MB"}  # a paused or briefly absent standby catches up
        )  # fmt: skip
        cluster.start()
    except BaseException:
        cluster.remove()
        raise
    return cluster


def replication_refused(host: str, port: int, user: str = SUPERUSER) -> str | None:
    """Why the server at that address refuses this machine a replication connection (what
    pg_basebackup needs: a `host replication` line in its pg_hba.conf, a user with the
    REPLICATION attribute, wal_level replica or logical), or None if it accepts one: its
    IDENTIFY_SYSTEM is asked over a physical replication connection."""
    conninfo = (
        f"host={host} port={port} user={user} dbname=replication replication=true connect_timeout=5"
    )
    conn = pq.PGconn.connect(conninfo.encode())
    try:
        if conn.status != pq.ConnStatus.OK:
            return conn.get_error_message().strip()
        result = conn.exec_(b"IDENTIFY_SYSTEM")  # the simple protocol, as replication wants
        if result.status != pq.ExecStatus.TUPLES_OK:
            return (result.get_error_message() or "IDENTIFY_SYSTEM failed").strip()
    finally:
        conn.finish()
    return None


def primary_settings(host: str, port: int, user: str = SUPERUSER) -> dict[str, str]:
    """The primary's values of AT_LEAST_THE_PRIMARYS and AS_THE_PRIMARY, with their units."""
    names = [*AT_LEAST_THE_PRIMARYS, *AS_THE_PRIMARY]
    url = f"postgres://{user}@{host}:{port}/postgres"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)", [names]
        ).fetchall()
    return {name: value for name, value in rows}


def make_standby(
    *,
    primary_host: str = "127.0.0.1",
    primary_port: int,
    primary_user: str = SUPERUSER,
    port: int | None = None,
    copy_seconds: float = 300,
) -> Cluster:
    """A hot standby of the primary at that address (which must accept replication
    connections from here: a `host replication` line in its pg_hba.conf), copied with
    `pg_basebackup -R -X stream` (the whole cluster, every database in it: `copy_seconds` to
    do it), configured as the primary where it matters (`primary_settings`), started and
    following it. The caller removes it."""
    cluster = Cluster(_folder("tracker-standby-"), port or free_port(), server_bin())
    try:
        like_primary = primary_settings(primary_host, primary_port, primary_user)
        _run(
            [str(cluster.bin / "pg_basebackup"), "--host", primary_host, "--port",
             str(primary_port), "--username", primary_user, "--pgdata", str(cluster.data),
             "--write-recovery-conf", "--wal-method", "stream", "--checkpoint", "fast",
             "--no-sync"],
            cwd=cluster.root, timeout=copy_seconds,
        )  # fmt: skip
        # A primary configured outside its data directory (Debian) copies no pg_hba.conf.
        (cluster.data / "pg_hba.conf").write_text(HBA)
        cluster._configure(
            {**cluster._common(), **like_primary, "hba_file": str(cluster.data / "pg_hba.conf"),
             "hot_standby": "on", "hot_standby_feedback": "on",
             # Back to streaming soon after the primary restarts (the default waits 5 s).
             "wal_retrieve_retry_interval": "200ms"}
        )  # fmt: skip
        cluster.start()
        wait_for(lambda: cluster.query("SELECT pg_is_in_recovery()") is True, 60, cluster)
    except BaseException:
        cluster.remove()
        raise
    return cluster


def pause_replay(standby: Cluster) -> None:
    """The standby keeps receiving WAL but applies none of it: reads there see the past."""
    standby.query("SELECT pg_wal_replay_pause()")
    wait_for(
        lambda: standby.query("SELECT pg_get_wal_replay_pause_state()") == "paused", 10, standby
    )


def resume_replay(standby: Cluster) -> None:
    standby.query("SELECT pg_wal_replay_resume()")


def lag_bytes(primary: Cluster, standby: Cluster) -> int:
    """How far the standby's replay is behind the primary's written WAL, in bytes."""
    written = primary.query("SELECT pg_current_wal_lsn()::text")
    return int(standby.query("SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())",
                             [written]))  # fmt: skip


def wait_caught_up(primary: Cluster, standby: Cluster, seconds: float = 30) -> None:
    """Until the standby has replayed everything the primary had written when called."""
    written = primary.query("SELECT pg_current_wal_lsn()::text")
    wait_for(
        lambda: standby.query("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [written]),
        seconds,
        standby,
    )


def wait_for(condition: Callable[[], Any], seconds: float, cluster: Cluster | None = None) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = condition()
        except psycopg.OperationalError:
            result = None  # starting, or reconnecting to its primary
        if result:
            return result
        if time.monotonic() > deadline:
            log = cluster.log_text()[-4000:] if cluster else ""
            raise ClusterError(f"timed out after {seconds} s\n{log}")
        time.sleep(0.05)
