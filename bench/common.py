"""What every part of the bench shares: paths, the log line and one timed HTTP request."""

from __future__ import annotations

import http.client
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LOGS = ROOT / "var" / "bench"
PYTHON = sys.executable
HOST = "127.0.0.1"

# The load mix's moves and list filters (bench/locustfile.py, bench/memory.py): each client
# moves its own cases around a loop it may run forever without closing anything (open → in
# progress → escalated → in progress → …; bench/inproc.py makes the pools).
NEXT_STATE = {"open": "in_progress", "in_progress": "escalated", "escalated": "in_progress"}
LIST_FILTERS = ["status=open,in_progress", "light=red", "light=yellow", "ordering=-updated_at", ""]


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


@dataclass
class Response:
    status: int
    seconds: float
    body: bytes = b""
    cookies: dict[str, str] = field(default_factory=dict)
    error: str = ""


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 60,
) -> Response:
    """One request on a fresh connection (gunicorn's sync workers close each one anyway),
    timed until the last byte of the body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        data = answer.read()
        seconds = time.perf_counter() - started
        cookies = {}
        for header in answer.msg.get_all("Set-Cookie") or []:
            name, _sep, rest = header.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
        return Response(answer.status, seconds, data, cookies)
    except (OSError, http.client.HTTPException) as error:
        return Response(0, time.perf_counter() - started, error=type(error).__name__)
    finally:
        conn.close()


def ok(response: Response) -> bool:
    return 200 <= response.status < 300


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(p) - 1]


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "n": len(samples),
        "p50": round(percentile(samples, 50), 1),
        "p95": round(percentile(samples, 95), 1),
        "mean": round(statistics.fmean(samples), 1) if samples else None,
        "max": round(max(samples), 1) if samples else None,
    }
