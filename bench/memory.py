"""The bench's memory step (`--only memory`): does a gunicorn worker grow? A fresh `make serve`
gets the load mix (bench/locustfile.py's: 40% case list, 40% case detail, 20% status change on
the client's own cases, by the load clients' tokens) from a few client threads sending
back to back; each worker's resident memory (VmRSS of /proc/<pid>/status; the workers are the
gunicorn master's children) is read after the first FIRST requests and after
`--memory-requests` (all of them, sent to the server: about a third to each of 3 workers).
Both readings are taken with no request running.

Workers must not be recycled meanwhile: `make serve` and the Dockerfile give gunicorn no
--max-requests and the project has no gunicorn.conf.py, so gunicorn's default (0: never)
applies; the step also sets it off through GUNICORN_CMD_ARGS (in case the environment sets
it) and checks that the workers' ids are the same at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import LIST_FILTERS, LOGS, NEXT_STATE, ROOT, log, ok, request
from steps import Server, free_port

FIRST = 1_000
THREADS = 6  # enough to keep 3 sync workers busy; one process's threads share its GIL


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every process: pid → (parent pid, process group, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile
        # The command name (2nd field) is in parentheses and may hold spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), int(fields[2]), cmdline)
    return found


def gunicorn_workers(group: int) -> tuple[int, list[int], str]:
    """The gunicorn master in the server's process group (make's, and the shell's if it did
    not exec gunicorn), its workers and its command line: the gunicorn process whose
    children are gunicorn processes without children of their own."""
    processes = _processes()
    mine = {pid: info for pid, info in processes.items() if info[1] == group}
    children: dict[int, list[int]] = {}
    for pid, (parent, _group, _cmdline) in mine.items():
        children.setdefault(parent, []).append(pid)
    masters = [
        pid
        for pid, (_parent, _group, cmdline) in mine.items()
        if "gunicorn" in cmdline
        and children.get(pid)
        and all("gunicorn" in mine[kid][2] and not children.get(kid) for kid in children[pid])
    ]
    if len(masters) != 1:
        raise RuntimeError(f"no single gunicorn master in process group {group}: {mine}")
    master = masters[0]
    return master, sorted(children[master]), mine[master][2]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no VmRSS for {pid}")
    return round(int(found[1]) / 1024, 1)


def max_requests_setting(cmdline: str, env: dict[str, str]) -> dict[str, Any]:
    """Where a --max-requests could come from, and what was found there."""
    flag = re.compile(r"--max-requests(?:=|\s+)(\d+)")
    on_command = flag.search(cmdline)
    in_env = flag.search(env.get("GUNICORN_CMD_ARGS", ""))
    config = ROOT / "gunicorn.conf.py"
    in_config = None
    if config.exists():
        found = re.search(r"^max_requests\s*=\s*(\d+)", config.read_text(), re.MULTILINE)
        in_config = int(found[1]) if found else None
    return {
        "command_line": int(on_command[1]) if on_command else None,
        "GUNICORN_CMD_ARGS": int(in_env[1]) if in_env else None,
        "gunicorn.conf.py": in_config if config.exists() else "absent",
    }


class Mix:
    """The load mix, sent by THREADS threads, each with its own share of the load clients (a
    client's cases are moved by one thread only): list 2, detail 2, status change 1."""

    def __init__(self, port: int, clients: list[dict[str, Any]], timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self.clients: list[dict[str, Any]] = [
            {
                "headers": {"Authorization": f"Token {c['token']}", "Accept-Language": "zh-hans"},
                "pool": {int(pk): status for pk, status in c["pool"]},
            }
            for c in clients
        ]
        self.lock = threading.Lock()
        self.sent = 0
        self.statuses: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.conflicts = 0

    def run(self, until: int) -> None:
        """Send requests until `until` have been sent in all (this run and the earlier ones)."""
        threads = [
            threading.Thread(target=self._send, args=(index, until), daemon=True)
            for index in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _take(self, until: int) -> bool:
        with self.lock:
            if self.sent >= until:
                return False
            self.sent += 1
            return True

    def _send(self, index: int, until: int) -> None:
        mine = self.clients[index::THREADS]
        rng = random.Random(f"{index}-{until}")  # noqa: S311 (sampling, not secrets)
        while self._take(until):
            client = rng.choice(mine)
            kind = rng.choices(("list", "detail", "status"), weights=(2, 2, 1))[0]
            if kind != "list" and not client["pool"]:
                kind = "list"
            if kind == "list":
                path = f"/api/v1/cases/?page_size=20&{rng.choice(LIST_FILTERS)}"
                self._record(kind, self._get(client, path))
            elif kind == "detail":
                pk = rng.choice(list(client["pool"]))
                self._record(kind, self._get(client, f"/api/v1/cases/{pk}/"))
            else:
                self._move(client, rng)

    def _get(self, client: dict[str, Any], path: str) -> Any:
        return request(self.port, "GET", path, client["headers"], timeout=self.timeout)

    def _move(self, client: dict[str, Any], rng: random.Random) -> None:
        pk = rng.choice(list(client["pool"]))
        to = NEXT_STATE[client["pool"][pk]]
        body = json.dumps({"to": to, "note": "基准测试：状态变更"}).encode()
        headers = {**client["headers"], "Content-Type": "application/json"}
        answer = request(
            self.port, "POST", f"/api/v1/cases/{pk}/transitions/", headers, body, self.timeout
        )
        if answer.status == 409:
            # Moved by someone else (an earlier step of the bench: the pools' statuses are
            # the setup's): read it again and go on from where it is, as the locustfile does.
            with self.lock:
                self.conflicts += 1
                self.statuses["409"] += 1
            again = self._get(client, f"/api/v1/cases/{pk}/")
            status = json.loads(again.body).get("status") if ok(again) else None
            if status in NEXT_STATE:
                client["pool"][pk] = status
            elif ok(again):
                client["pool"].pop(pk, None)
            return
        if ok(answer):
            client["pool"][pk] = to
        self._record("status", answer)

    def _record(self, kind: str, answer: Any) -> None:
        with self.lock:
            self.statuses[str(answer.status or answer.error)] += 1
            if not ok(answer):
                self.failures[f"{kind} {answer.status or answer.error}"] += 1


def memory_step(
    env: dict[str, str], setup: dict[str, Any], opts: argparse.Namespace, result: dict[str, Any]
) -> None:
    """A fresh server, FIRST requests of the mix, its workers' RSS; the rest of
    --memory-requests, their RSS again."""
    total = max(opts.memory_requests, FIRST)
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    cmd_args = f"{env.get('GUNICORN_CMD_ARGS', '')} --max-requests 0".strip()
    server = Server(
        {**env, "GUNICORN_CMD_ARGS": cmd_args}, port, LOGS / f"server-{result['cases']}-memory.log"
    )
    log(f"  memory: make serve on :{port}, then {total:,} requests of the load mix …")
    try:
        server.wait_ready(timeout=opts.step_timeout)
        master, workers, cmdline = gunicorn_workers(os.getpgid(server.process.pid))
        setting = max_requests_setting(cmdline, env)
        mix = Mix(port, setup["load_clients"], opts.timeout)
        started = time.perf_counter()
        mix.run(FIRST)
        first = {pid: rss_mb(pid) for pid in workers}
        log(f"  memory: after {FIRST:,} requests, workers' RSS {list(first.values())} MB")
        step = max(FIRST, (total - FIRST) // 10)
        while mix.sent < total:
            mix.run(min(total, mix.sent + step))
            log(f"  memory: {mix.sent:,} requests, {mix.sent / (time.perf_counter() - started):.0f}"
                f"/s, RSS {[rss_mb(pid) for pid in workers]} MB")  # fmt: skip
        seconds = time.perf_counter() - started
        last = {pid: rss_mb(pid) for pid in workers}
        _master, workers_after, _cmdline = gunicorn_workers(os.getpgid(server.process.pid))
    finally:
        server.stop()
    recycled = workers_after != workers
    growth = {pid: round(100 * (last[pid] - first[pid]) / first[pid], 1) for pid in workers}
    failed = sum(mix.failures.values())
    result["memory"] = {
        "requests": mix.sent,
        "seconds": round(seconds, 1),
        "rps": round(mix.sent / seconds, 1),
        "threads": THREADS,
        "statuses": dict(mix.statuses),
        "failures": dict(mix.failures),
        "conflicts": mix.conflicts,
        "master": master,
        "workers": [
            {"pid": pid, "first_mb": first[pid], "last_mb": last[pid], "growth_pct": growth[pid]}
            for pid in workers
        ],
        "recycled": recycled,
        "max_requests": {**setting, "GUNICORN_CMD_ARGS of the step": cmd_args},
    }
    errors = failed + (1 if recycled else 0)
    result["memory_requests"] = {"value": mix.sent, "errors": failed}
    result["memory_rss_first_mb"] = {"value": max(first.values())}
    result["memory_rss_last_mb"] = {"value": max(last.values())}
    result["memory_growth_pct"] = {
        "value": None if recycled else max(growth.values()),
        "errors": errors,
    }
    log(
        f"  memory: {mix.sent:,} requests in {seconds:.0f} s ({mix.sent / seconds:.0f}/s), "
        f"failures {failed} {dict(mix.failures) or ''}, 409 {mix.conflicts}; RSS per worker "
        f"{list(first.values())} → {list(last.values())} MB, growth {list(growth.values())} %"
        f"{'; WORKERS RECYCLED: not a measurement' if recycled else ''}"
    )
