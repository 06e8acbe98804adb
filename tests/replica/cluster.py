"""The throwaway clusters of scripts/pgcluster.py (shared with the bench's replica step), for
the streaming-replica tests."""

from __future__ import annotations

import sys

from tests.live_server import ROOT

if str(ROOT / "scripts") not in sys.path:
    sys.path.append(str(ROOT / "scripts"))

from pgcluster import (
    Cluster,
    ClusterError,
    lag_bytes,
    make_standby,
    pause_replay,
    replication_refused,
    resume_replay,
    start_primary,
    wait_caught_up,
    wait_for,
)

__all__ = [
    "Cluster",
    "ClusterError",
    "lag_bytes",
    "make_standby",
    "pause_replay",
    "replication_refused",
    "resume_replay",
    "start_primary",
    "wait_caught_up",
    "wait_for",
]
