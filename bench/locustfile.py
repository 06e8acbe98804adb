"""The load phase of `make bench`, as a Locust test that bench/run.py runs headless:

    locust -f bench/locustfile.py --headless -u 50 -r 50 -t 60s --csv var/bench/locust-N \
        --host http://127.0.0.1:PORT

Each simulated user is one API client of bench/inproc.py's setup (its own token and its own
pool of cases, disjoint from the others'), pausing BENCH_THINK_MS between requests as a person
reading a page does: 40% case list (20 a page), 40% case detail, 20% status change on its own
cases (open → in progress → escalated → in progress …). A 409 (another move came first) is a
business answer: a success, counted under its own name, "status 409". Every other 4xx, 5xx,
timeout and refused connection is a Locust failure.

Settings from the environment: BENCH_LOAD_CLIENTS (a JSON file: the setup's load_clients),
BENCH_THINK_MS (default 500) and BENCH_TIMEOUT (seconds per request, default 60).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path
from typing import Any

from common import LIST_FILTERS, NEXT_STATE  # Locust puts this file's folder on the path
from locust import FastHttpUser, constant, task

CONFLICT = "status 409"  # the name a 409 is counted under, apart from the other moves


def _clients() -> list[dict[str, Any]]:
    path = os.environ.get("BENCH_LOAD_CLIENTS")
    if not path:
        raise SystemExit("BENCH_LOAD_CLIENTS must name the clients file bench/run.py writes")
    clients: list[dict[str, Any]] = json.loads(Path(path).read_text(encoding="utf-8"))
    return clients


CLIENTS = _clients()
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "60"))
_numbers = itertools.count()


class CaseWorker(FastHttpUser):
    """An inspector or supervisor working through its cases over the API."""

    wait_time = constant(float(os.environ.get("BENCH_THINK_MS", "500")) / 1000)
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT

    def on_start(self) -> None:
        number = next(_numbers)
        spec = CLIENTS[number % len(CLIENTS)]
        self.rng = random.Random(number)  # noqa: S311 (sampling, not secrets)
        self.headers = {"Authorization": f"Token {spec['token']}", "Accept-Language": "zh-hans"}
        self.pool = {int(pk): status for pk, status in spec["pool"]}

    @task(2)
    def case_list(self) -> None:
        query = self.rng.choice(LIST_FILTERS)
        self.client.get(f"/api/v1/cases/?page_size=20&{query}", headers=self.headers, name="list")

    @task(2)
    def case_detail(self) -> None:
        if not self.pool:
            return self.case_list()
        pk = self.rng.choice(list(self.pool))
        self.client.get(f"/api/v1/cases/{pk}/", headers=self.headers, name="detail")
        return None

    @task(1)
    def status_change(self) -> None:
        if not self.pool:
            return self.case_list()
        pk = self.rng.choice(list(self.pool))
        to = NEXT_STATE[self.pool[pk]]
        body = {"to": to, "note": "基准测试：状态变更"}
        path = f"/api/v1/cases/{pk}/transitions/"
        with self.client.post(
            path, json=body, headers=self.headers, name="status", catch_response=True
        ) as response:
            conflict = response.status_code == 409
            if conflict:
                response.request_meta["name"] = CONFLICT
                response.success()
            elif 200 <= response.status_code < 300:
                self.pool[pk] = to
        if conflict:
            self.read_again(pk)
        return None

    def read_again(self, pk: int) -> None:
        """Someone else moved the case (no one should: the pools are disjoint): read it again
        and go on from where it is, or leave it if it is no longer movable."""
        answer = self.client.get(f"/api/v1/cases/{pk}/", headers=self.headers, name="detail")
        if answer.status_code != 200:
            return
        status = answer.json().get("status")
        if status in NEXT_STATE:
            self.pool[pk] = status
        else:
            self.pool.pop(pk, None)
