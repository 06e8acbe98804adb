"""The production web server (gunicorn, as `make serve` runs it) in a process of its own, for
tests that talk to it over HTTP as a browser or an API client would, with a session cookie or
an API token. The caller gives its environment (databases, Redis, TRACKER_VAR_DIR)."""

from __future__ import annotations

import http.client
import json
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveServer:
    port: int
    process: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, env: dict[str, str], folder: Path, **fields: Any) -> Self:
        """gunicorn with one sync worker on a free port, its output in `folder`/server.log;
        returned once it has booted (its first request may still wait for the database).
        Subclasses pass their own fields."""
        port = free_port()
        log = folder / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 (a fixed argument list, no shell)
                [str(GUNICORN), "tracker.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                 "--timeout", "30", "--graceful-timeout", "2"],
                cwd=ROOT, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        return cls(port=port, process=process, log=log, **fields)

    def wait_ready(self, seconds: float = 30) -> None:
        """Until GET /healthz answers 200 (the process up, its database reachable)."""
        ready_by = time.monotonic() + seconds
        while True:
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < ready_by, self.log.read_text(errors="replace")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def request(
        self,
        method: str,
        path: str,
        *,
        session: str = "",
        token: str = "",
        form: dict[str, Any] | None = None,
        json_body: dict | None = None,
        language: str = "zh-hans",
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body). A form is posted with a CSRF token that matches the
        cookie sent along; a list value sends the field once per item."""
        headers = {"Accept-Language": language, "X-Request-ID": f"test-{secrets.token_hex(4)}"}
        body: bytes | None = None
        csrf = secrets.token_hex(16)  # 32 characters: a valid unmasked CSRF secret
        if session:
            headers["Cookie"] = f"sessionid={session}; csrftoken={csrf}"
        if token:
            headers["Authorization"] = f"Token {token}"
        if form is not None:
            body = urlencode({**form, "csrfmiddlewaretoken": csrf}, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def json_logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_lines() if line.startswith("{")]
