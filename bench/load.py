"""The load test: Locust, headless, on bench/locustfile.py, its CSV read back into the
bench's figures (load p95, requests/s, failures, and the 409s counted apart)."""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.metadata
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from common import BENCH, HOST, LOGS, PYTHON, ROOT, log
from steps import run_step

CONFLICT = "status 409"  # the name bench/locustfile.py counts a 409 under
OPERATIONS = ("list", "detail", "status", CONFLICT)


def locust_command(port: int, clients: int, prefix: Path, opts: argparse.Namespace) -> list[str]:
    """All clients start at once (spawn rate = clients), as people already at work do."""
    return [
        PYTHON, "-m", "locust", "-f", str(BENCH / "locustfile.py"), "--headless",
        "-u", str(clients), "-r", str(clients), "-t", f"{max(1, round(opts.load_seconds))}s",
        "--host", f"http://{HOST}:{port}", "--csv", str(prefix), "--html", f"{prefix}.html",
        "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0",
    ]  # fmt: skip


def load_test(
    port: int,
    clients: list[dict[str, Any]],
    opts: argparse.Namespace,
    size: int,
    *,
    name: str = "",
    think_ms: float | None = None,
) -> dict[str, Any]:
    """Run Locust for --load-seconds, each user pausing `think_ms` (default --think-ms)
    between requests; its CSV and HTML report stay in var/bench/ (locust-<size><name>)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    prefix = LOGS / f"locust-{size}{name}"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        json.dump(clients, spec)
    env = {
        **os.environ,
        "BENCH_LOAD_CLIENTS": spec.name,
        "BENCH_THINK_MS": f"{opts.think_ms if think_ms is None else think_ms:g}",
        "BENCH_TIMEOUT": f"{opts.timeout:g}",
    }
    try:
        step = run_step(
            locust_command(port, len(clients), prefix, opts),
            env,
            check=False,
            timeout=opts.load_seconds + 120,
        )
    finally:
        os.unlink(spec.name)
    stats = Path(f"{prefix}_stats.csv")
    if not step.ok or not stats.exists():
        log(f"  locust failed: {step.stderr[-2000:]}")
        return {"errors": 1, "error": step.stderr[-2000:]}
    return figures(stats, Path(f"{prefix}_failures.csv"), len(clients), opts.load_seconds)


def _number(text: str) -> float | None:
    with contextlib.suppress(ValueError):
        return float(text)
    return None  # Locust writes N/A for a name with no requests


def _row(row: dict[str, str]) -> dict[str, Any]:
    return {
        "n": int(row["Request Count"]),
        "p50": _number(row["50%"]),
        "p95": _number(row["95%"]),
        "p99": _number(row["99%"]),
        "mean": round(_number(row["Average Response Time"]) or 0, 1),
        "max": round(_number(row["Max Response Time"]) or 0, 1),
        "errors": int(row["Failure Count"]),
        "rps": round(_number(row["Requests/s"]) or 0, 1),
    }


def figures(stats: Path, failures: Path, clients: int, seconds: float) -> dict[str, Any]:
    """Locust's figures: its Aggregated row (every request, 409s included, failed ones too)
    and one row per operation; the failures by error as Locust groups them."""
    with stats.open(encoding="utf-8", newline="") as file:
        rows = {row["Name"]: _row(row) for row in csv.DictReader(file)}
    outcomes: dict[str, int] = {}
    if failures.exists():
        with failures.open(encoding="utf-8", newline="") as file:
            for row in csv.DictReader(file):
                outcomes[f"{row['Name']}: {row['Error']}"] = int(row["Occurrences"])
    total = rows.get("Aggregated") or _row({key: "0" for key in _COLUMNS})
    return {
        "tool": f"locust {importlib.metadata.version('locust')}",
        "clients": clients,
        "seconds": seconds,
        "requests": total["n"],
        **{key: total[key] for key in ("n", "p50", "p95", "p99", "mean", "max", "errors", "rps")},
        "conflicts": rows.get(CONFLICT, {}).get("n", 0),
        "outcomes": outcomes,
        "by_op": {name: rows[name] for name in OPERATIONS if name in rows},
        "csv": str(stats.relative_to(ROOT)),
    }


_COLUMNS = ("Request Count", "50%", "95%", "99%", "Average Response Time",
            "Max Response Time", "Failure Count", "Requests/s")  # fmt: skip


def load_rows(
    result: dict[str, Any], key: str, load: dict[str, Any], percentiles: tuple[str, ...] = ("p95",)
) -> bool:
    """The table's rows of a closed-loop run under `key`: requests/s, each percentile and the
    errors; rows without a figure when the run gave none (False then)."""
    if "p95" not in load:
        failed = {"value": None, "n": 0, "errors": 1, "error": load.get("error")}
        for name in ("rps", *percentiles, "errors"):
            result[f"{key}_{name}"] = dict(failed)
        return False
    result[f"{key}_rps"] = {"value": load["rps"]}
    for percentile in percentiles:
        result[f"{key}_{percentile}"] = {part: load[part] for part in ("n", "p50", percentile)}
    result[f"{key}_errors"] = {"value": load["errors"]}
    return True
