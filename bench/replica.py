"""The bench's replica step (`--only replica`): the closed-loop mix with 16 users, served with
the reads that may go to a replica (figures, case lists and pages: tracker/db_router.py) on a
streaming standby of the bench database's server, made for the step on this machine
(scripts/pgcluster.py: `pg_basebackup -R -X stream` of the whole cluster, started on a free
port) and removed after it.

The server must accept a replication connection from this machine: on Debian's cluster, a line
`host replication all 127.0.0.1/32 trust` in /etc/postgresql/<version>/main/pg_hba.conf and
`pg_ctlcluster <version> main reload`. Without it, or without room for the copy in the
temporary directory, the step's rows say "not measured" and why.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import urllib.parse
from typing import Any

import psycopg
from common import LOGS, ROOT, log
from load import load_rows, load_test
from steps import Server, database_name, free_port

sys.path.append(str(ROOT / "scripts"))
from pgcluster import Cluster, ClusterError, make_standby, replication_refused

USERS = 16
KEY = f"replica{USERS}"
ROWS = (f"{KEY}_rps", f"{KEY}_p95", f"{KEY}_errors")
HBA_LINE = "host replication all 127.0.0.1/32 trust"


def _address(url: str) -> tuple[str, int, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432, parts.username or "postgres"


def standby_url(url: str, standby: Cluster) -> str:
    """The bench database's URL on the standby: the same user and database."""
    parts = urllib.parse.urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{standby.port}" if user else f"127.0.0.1:{standby.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _not_measured(result: dict[str, Any], reason: str) -> None:
    log(f"  replica: not measured: {reason}")
    result[KEY] = {"skipped": reason}
    for row in ROWS:
        result[row] = {"value": None, "skipped": reason}


def _why_not(url: str) -> str | None:
    """Why no standby can be made of the bench database's server here, or None."""
    host, port, user = _address(url)
    refused = replication_refused(host, port, user)
    if refused:
        reason = f"{host}:{port} refuses a replication connection ({refused.splitlines()[0]})"
        if "pg_hba.conf" in refused:
            reason += f": add `{HBA_LINE}` to its pg_hba.conf and reload it"
        return reason
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT sum(pg_database_size(datname)) FROM pg_database").fetchone()
    cluster = int(row[0]) if row and row[0] else 0
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < cluster * 1.2 + 2**30:  # the copy, its WAL and some room
        return (
            f"the cluster holds {cluster / 2**30:.1f} GB (every database is copied) and "
            f"{tempfile.gettempdir()} has {free / 2**30:.1f} GB free"
        )
    return None


def _activity(url: str) -> dict[str, int]:
    """The database's transactions and rows read so far on that server."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback, tup_returned + tup_fetched "
            "FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return {"transactions": int(row[0]), "rows": int(row[1])} if row else {}


def _lag_bytes(url: str, replica_url: str) -> int | None:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    with psycopg.connect(replica_url, autocommit=True, connect_timeout=5) as conn:
        lag = conn.execute(
            "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())::bigint",
            [row[0] if row else None],
        ).fetchone()
    return int(lag[0]) if lag and lag[0] is not None else None


def replica_step(
    url: str,
    env: dict[str, str],
    setup: dict[str, Any],
    opts: argparse.Namespace,
    result: dict[str, Any],
) -> None:
    """A standby of the bench database's server, `make serve` reading from it
    (DATABASE_REPLICA_URL), the closed-loop mix with USERS users; then everything removed."""
    reason = _why_not(url)
    if reason:
        _not_measured(result, reason)
        return
    host, port, user = _address(url)
    log(f"  replica: pg_basebackup of {host}:{port} (the whole cluster) …")
    started = time.perf_counter()
    try:
        standby = make_standby(
            primary_host=host, primary_port=port, primary_user=user,
            copy_seconds=opts.step_timeout,
        )  # fmt: skip
    except ClusterError as error:
        _not_measured(result, f"the standby could not be made: {str(error)[-1500:]}")
        return
    copied = round(time.perf_counter() - started, 1)
    server: Server | None = None
    try:
        replica_url = standby_url(url, standby)
        log(f"  replica: standby on :{standby.port} after {copied} s; make serve reading there …")
        server_port = free_port()
        LOGS.mkdir(parents=True, exist_ok=True)
        server = Server(
            {**env, "DATABASE_REPLICA_URL": replica_url},
            server_port,
            LOGS / f"server-{result['cases']}-replica.log",
        )
        server.wait_ready(timeout=opts.step_timeout)
        before = {"primary": _activity(url), "replica": _activity(replica_url)}
        log(f"  closed loop on the replica: Locust, {USERS} users, {opts.load_seconds:g} s …")
        clients = setup["load_clients"][:USERS]
        load = load_test(server_port, clients, opts, result["cases"], name=f"-{KEY}", think_ms=0)
        time.sleep(1.5)  # the servers' statistics are flushed about once a second
        after = {"primary": _activity(url), "replica": _activity(replica_url)}
        activity = {
            side: {name: after[side][name] - before[side].get(name, 0) for name in after[side]}
            for side in after
        }
        lag = _lag_bytes(url, replica_url)
    finally:
        if server is not None:
            server.stop()
        standby.remove()
    result[KEY] = {
        **load,
        "standby": {"copy_seconds": copied, "database": database_name(replica_url)},
        "activity": activity,  # what each server did during the run
        "lag_bytes_after": lag,
    }
    if not load_rows(result, KEY, load):
        return
    log(
        f"  replica {USERS}: {load['requests']} requests, {load['rps']}/s, p95 {load['p95']} ms, "
        f"failures {load['errors']}; transactions on the primary "
        f"{activity['primary'].get('transactions')}, on the replica "
        f"{activity['replica'].get('transactions')}; replay lag after {lag} bytes"
    )
