"""Group bots cannot reach inside: https to public addresses only, checked when a bot is saved
and again when it is sent, the checked address pinned, no redirects, one deadline per send,
no answer text in the recorded errors. Real sockets on 127.0.0.1 throughout; the only hook is
the resolver (a test cannot own a public DNS name), used for the rebinding and TLS tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils import timezone

from reminders import services
from reminders.models import Delivery, UnitWebhook

from .conftest import TODAY

pytestmark = pytest.mark.django_db

SECRET = "INTERNAL-ANSWER-7f3a"  # what an internal service would answer: must never be recorded


# --- Local servers ---------------------------------------------------------------------------


@dataclass
class Listener:
    """A bare TCP server: counts connections (a refused target must not get even one)."""

    host: str = "127.0.0.1"
    accepted: int = 0
    port: int = 0
    sock: socket.socket | None = None

    def start(self) -> Listener:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((self.host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        while self.sock is not None:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def stop(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener().start()
    yield server
    server.stop()


@dataclass
class Server:
    """An HTTP server whose POST handler is `respond(handler)`; records each request."""

    respond: Callable[[BaseHTTPRequestHandler], None]
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(respond: Callable[[BaseHTTPRequestHandler], None], host: str = "127.0.0.1") -> Server:
        state = Server(respond)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                state.requests.append({"host": self.headers.get("Host", ""), "path": self.path})
                with contextlib.suppress(OSError):  # the client gave up
                    respond(self)

            def log_message(self, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer((host, 0), Handler)
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((httpd, thread))
        state.url = f"http://{host}:{httpd.server_address[1]}/cgi-bin/webhook/send?key=k"
        return state

    yield start
    for httpd, thread in running:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def answer(status: int, body: bytes, **headers: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return respond


@pytest.fixture
def permitted(settings) -> Any:
    """The development setting and the test allow-list: 127.0.0.1 counts as a public bot."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_TEST_ALLOW_ADDRESSES = ["127.0.0.1/32"]
    return settings


def due_case(world: Any) -> None:
    world.case(world.unit_a, deadline=timezone.localdate() + timedelta(days=1))


def webhook_message() -> Delivery:
    return Delivery.objects.get(channel="webhook")


# --- The address policy ----------------------------------------------------------------------

REFUSED = [
    "127.0.0.1", "127.8.9.10", "0.0.0.0",  # noqa: S104 (refused, not bound)
    "10.1.2.3", "172.16.0.1", "172.31.255.254",
    "192.168.1.1", "100.64.0.1", "100.127.255.254", "169.254.169.254", "169.254.0.1",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1",
    "198.18.0.1", "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "fec0::1",
    "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "::ffff:100.64.0.1", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "2002:a00:1::1",
    "2002:7f00:1::1", "2001:db8::1", "::127.0.0.1",
]  # fmt: skip
PUBLIC = ["1.1.1.1", "8.8.8.8", "203.119.1.1", "2606:4700:4700::1111", "2400:3200::1",
          "::ffff:1.1.1.1", "2002:101:101::1"]  # fmt: skip


@pytest.mark.parametrize("address", REFUSED)
def test_it_refuses_every_address_that_is_not_public(address):
    from reminders import egress

    assert not egress.is_permitted(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_it_permits_public_addresses(address):
    from reminders import egress

    assert egress.is_permitted(address)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",  # a name that resolves to loopback
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://[fd00::1]/hook",
        "https://10.0.0.8:8443/hook",
        "https://1.1.1.1@127.0.0.1/hook",  # reads as one host, goes to another
        "http://1.1.1.1/hook",  # plain http without the development setting
    ],
)
def test_it_refuses_an_internal_or_plain_target_at_save(world, url):
    hook = UnitWebhook(unit=world.unit_a, url=url)
    with pytest.raises(ValidationError) as refused:
        hook.full_clean()
    assert "url" in refused.value.message_dict


def test_it_refuses_other_spellings_of_internal_hosts_and_other_schemes(settings):
    # The URL validator refuses these today; the policy must not depend on it (sending checks
    # the policy alone), so it refuses them by itself.
    from reminders import egress

    settings.WEBHOOK_ALLOW_HTTP = True
    for url in ("http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://[::]/",
                "ftp://1.1.1.1/", "file:///etc/passwd", "gopher://1.1.1.1/"):  # fmt: skip
        with pytest.raises(egress.Refused):
            egress.resolve(url, timeout=2)


def test_it_accepts_a_public_https_target_and_http_only_with_the_development_setting(
    world, settings
):
    UnitWebhook(unit=world.unit_a, url="https://1.1.1.1/cgi-bin/webhook/send?key=k").full_clean()
    settings.WEBHOOK_ALLOW_HTTP = True
    UnitWebhook(unit=world.unit_a, url="http://1.1.1.1/cgi-bin/webhook/send?key=k").full_clean()
    with pytest.raises(ValidationError):  # the development setting permits http, not inside
        UnitWebhook(unit=world.unit_a, url="http://127.0.0.1/hook").full_clean()


def test_it_refuses_a_local_server_in_the_admin_and_never_connects_to_it(
    world, client, listener, settings
):
    settings.WEBHOOK_ALLOW_HTTP = True  # even so: the address is what is refused
    client.force_login(world.admin)
    for url in (f"http://127.0.0.1:{listener.port}/hook", f"https://localhost:{listener.port}/"):
        response = client.post(
            "/admin/reminders/unitwebhook/add/",
            {
                "unit": world.unit_a.pk,
                "url": url,
                "flavour": "wecom",
                "timeout_seconds": 5,
                "max_attempts": 5,
                "enabled": "on",
            },
        )
        assert response.status_code == 200  # the form again, with the error
        assert "只允许公网地址" in response.content.decode()
    assert not UnitWebhook.objects.exists()
    time.sleep(0.3)
    assert listener.accepted == 0


def test_it_refuses_at_send_a_bot_that_points_inside_and_never_connects(
    people, clock, listener, settings
):
    # Rows written before the policy, or through a door that skipped validation.
    settings.WEBHOOK_ALLOW_HTTP = True
    UnitWebhook.objects.create(unit=people.unit_a, url=f"http://127.0.0.1:{listener.port}/x")
    UnitWebhook.objects.create(unit=people.unit_b, url=f"http://localhost:{listener.port}/x")
    people.case(people.unit_a, deadline=TODAY + timedelta(days=1))
    people.case(people.unit_b, deadline=TODAY + timedelta(days=1))
    services.sweep()
    services.deliver()
    messages = Delivery.objects.filter(channel="webhook")
    assert messages.count() == 2
    for message in messages:
        assert message.status == "pending" and message.sent_at is None
        assert "只允许公网地址" in message.last_error
    time.sleep(0.3)
    assert listener.accepted == 0


# --- Sending ---------------------------------------------------------------------------------


def test_it_does_not_follow_a_redirect(people, clock, permitted, serve, listener):
    inside = f"http://127.0.0.1:{listener.port}/latest/meta-data/"
    server = serve(answer(302, b"", Location=inside))
    UnitWebhook.objects.create(unit=people.unit_a, url=server.url)
    people.case(people.unit_a, deadline=TODAY + timedelta(days=1))
    services.sweep()
    services.deliver()
    message = webhook_message()
    assert (message.status, message.sent_at) == ("pending", None)
    assert message.last_error.startswith("HTTP 302") and "meta-data" not in message.last_error
    assert len(server.requests) == 1
    time.sleep(0.3)
    assert listener.accepted == 0


ANSWERS = [
    answer(500, SECRET.encode()),
    answer(200, b'{"errcode": 40001, "errmsg": "' + SECRET.encode() + b'"}'),
    answer(200, b'{"errcode": "' + SECRET.encode() + b'"}'),
    answer(200, b"<html>" + SECRET.encode() + b"</html>"),
    answer(404, b'{"errcode": 1, "errmsg": "' + SECRET.encode() + b'"}'),
    answer(302, SECRET.encode(), Location=f"https://1.1.1.1/{SECRET}"),
]


def test_it_records_a_failure_without_the_answers_text(world, permitted, serve):
    from reminders import channels

    recorded = []
    for respond in ANSWERS:
        server = serve(respond)
        hook = UnitWebhook(unit=world.unit_a, url=server.url)
        with pytest.raises(channels.DeliveryError) as failed:
            channels.send_webhook(hook, [])
        recorded.append(channels.describe(failed.value))
        assert len(server.requests) == 1
    assert all(text and SECRET not in text for text in recorded), recorded
    assert recorded[1] == "errcode 40001" and recorded[0] == "HTTP 500"


def test_it_connects_only_to_an_address_it_checked_whatever_the_dns_answers(
    people, clock, permitted, serve, monkeypatch
):
    """Resolver hook: `bot.example.com` answers the permitted 127.0.0.1 once, then only the
    internal 127.0.0.2 (DNS rebinding); `both.example.com` answers internal and permitted
    addresses at once (a client trying them in order would reach the internal one)."""
    other = Listener(host="127.0.0.2").start()
    try:
        bot = serve(answer(200, b'{"errcode": 0}'))
        port = int(bot.url.split(":")[2].split("/")[0])
        answers = iter(["127.0.0.1"] + ["127.0.0.2"] * 10)
        real = socket.getaddrinfo
        lookups: list[str] = []

        def resolver(host: str, *args: Any, **kwargs: Any) -> Any:
            if host == "both.example.com":
                return real("127.0.0.2", *args, **kwargs) + real("127.0.0.1", *args, **kwargs)
            if host != "bot.example.com":
                return real(host, *args, **kwargs)
            lookups.append(host)
            return real(next(answers), *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        path = "/cgi-bin/webhook/send?key=k"
        UnitWebhook.objects.create(unit=people.unit_a, url=f"http://bot.example.com:{port}{path}")
        UnitWebhook.objects.create(unit=people.unit_b, url=f"http://both.example.com:{port}{path}")
        people.case(people.unit_a, deadline=TODAY + timedelta(days=1))
        people.case(people.unit_b, deadline=TODAY + timedelta(days=1))
        services.sweep()
        services.deliver()
        assert Delivery.objects.get(channel="webhook", unit=people.unit_a).status == "sent"
        refused = Delivery.objects.get(channel="webhook", unit=people.unit_b)
        assert refused.status == "pending" and "只允许公网地址" in refused.last_error
        assert lookups == ["bot.example.com"]  # one lookup: the checked answer is used
        assert bot.requests == [{"host": f"bot.example.com:{port}", "path": path}]
        time.sleep(0.3)
        assert other.accepted == 0
    finally:
        other.stop()


def test_it_sends_within_half_of_what_is_left_of_the_lease(world, settings):
    from reminders import channels

    settings.WEBHOOK_SEND_DEADLINE_SECONDS = 30
    hook = UnitWebhook(unit=world.unit_a, url="https://1.1.1.1/", timeout_seconds=20)
    assert channels.send_deadline(hook, None) == 20
    left = timezone.now() + timedelta(seconds=10)
    assert channels.send_deadline(hook, left) == pytest.approx(5, abs=0.1)
    settings.WEBHOOK_SEND_DEADLINE_SECONDS = 3
    assert channels.send_deadline(hook, timezone.now() + timedelta(seconds=300)) == 3
    assert channels.send_deadline(hook, timezone.now() - timedelta(seconds=1)) < 0


# --- A slow bot and the lease ----------------------------------------------------------------


def trickle(seconds: float) -> Callable[[BaseHTTPRequestHandler], None]:
    """An answer that promises 1000 bytes and sends one every 0.1 s (each read succeeds, so a
    per-read timeout never fires)."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.flush()
        body = (SECRET * 100).encode()
        end = time.monotonic() + seconds
        for byte in body:
            if time.monotonic() > end:
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.1)

    return respond


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_it_cuts_a_trickling_bot_at_the_deadline_and_never_sends_twice(
    world, permitted, serve, caplog
):
    # Real time: a sender's lease of 2 s, a deadline of 1 s; the bot trickles for 5 s.
    permitted.REMINDER_CHANNELS = ["webhook"]
    permitted.REMINDER_LEASE_SECONDS = 2
    permitted.WEBHOOK_SEND_DEADLINE_SECONDS = 1
    server = serve(trickle(5))
    UnitWebhook.objects.create(unit=world.unit_a, url=server.url, timeout_seconds=5)
    due_case(world)
    services.sweep()
    took: list[float] = []

    def sender(wait: float) -> None:
        try:
            time.sleep(wait)
            started = time.monotonic()
            services.deliver()
            took.append(time.monotonic() - started)
        finally:
            connections.close_all()

    # The first sender claims the message; the second comes when the first one's lease is
    # over (a per-read timeout would still be reading then, and the second would send again).
    first = threading.Thread(target=sender, args=(0,))
    second = threading.Thread(target=sender, args=(2.3,))
    first.start()
    second.start()
    first.join(20)
    second.join(20)
    assert len(server.requests) == 1
    assert took and took[0] < 2  # cut at the deadline, within the lease
    message = webhook_message()
    assert (message.status, message.attempts, message.sent_at) == ("pending", 1, None)
    assert "超时" in message.last_error and SECRET[:8] not in message.last_error
    assert SECRET[:8] not in caplog.text


# --- Settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"WEBHOOK_TEST_ALLOW_ADDRESSES": "127.0.0.1/32"}, "WEBHOOK_TEST_ALLOW_ADDRESSES"),
        ({"WEBHOOK_ALLOW_HTTP": "true"}, "WEBHOOK_ALLOW_HTTP"),
        ({"WEBHOOK_SEND_DEADLINE_SECONDS": "200"}, "WEBHOOK_SEND_DEADLINE_SECONDS"),
        ({"REMINDER_LEASE_SECONDS": "20", "WEBHOOK_SEND_DEADLINE_SECONDS": "11"},
         "WEBHOOK_SEND_DEADLINE_SECONDS"),
    ],
)  # fmt: skip
def test_it_refuses_to_start_with_test_overrides_or_a_deadline_past_the_lease(
    tmp_path, variables, named
):
    from tests.test_deployment import improperly_configured_line, start_django

    result = start_django(
        tmp_path,
        DJANGO_SECRET_KEY="x" * 50,
        DJANGO_ALLOWED_HOSTS="tracker.example.org",
        HISTORY_SEAL_KEY="k" * 40,
        **variables,
    )
    assert result.returncode != 0
    assert named in improperly_configured_line(result)


@pytest.mark.parametrize(("lease", "deadline"), [("2", 2 / 3), ("300", 30), ("60", 20)])
def test_it_derives_the_deadline_from_the_lease(tmp_path, lease, deadline):
    import subprocess
    import sys

    from tests.test_deployment import ROOT

    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tracker.settings'; "
        "django.setup(); from django.conf import settings; "
        "print(settings.WEBHOOK_SEND_DEADLINE_SECONDS)"
    )
    env = {"PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "true", "REMINDER_LEASE_SECONDS": lease,
           "TRACKER_VAR_DIR": str(tmp_path / "var")}  # fmt: skip
    result = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split()[-1]) == pytest.approx(deadline)


# --- TLS to the pinned address ---------------------------------------------------------------


@pytest.fixture
def tls_bot(tmp_path, monkeypatch, permitted) -> Iterator[dict[str, Any]]:
    """A bot over TLS on 127.0.0.1 with a certificate for bot.example.com from a test CA that
    the client trusts (SSL_CERT_FILE); the resolver hook maps *.example.com to 127.0.0.1."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test CA")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)  # noqa: S603, S607

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=Test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "bot.key", "-out", "bot.csr",
            "-subj", "/CN=bot.example.com")  # fmt: skip
    (tmp_path / "san.ext").write_text("subjectAltName=DNS:bot.example.com\n")
    openssl("x509", "-req", "-in", "bot.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "bot.pem", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    real = socket.getaddrinfo

    def resolver(host: str, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host.endswith(".example.com") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    state: dict[str, Any] = {"sni": [], "hosts": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state["hosts"].append(self.headers.get("Host"))
            answer(200, b'{"errcode": 0}')(self)

        def log_message(self, *args: Any) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "bot.pem", tmp_path / "bot.key")
    context.sni_callback = lambda sock, name, ctx: state["sni"].append(name)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state["port"] = httpd.server_address[1]
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_it_checks_tls_for_the_host_name_while_connecting_to_the_pinned_address(
    people, clock, tls_bot
):
    port = tls_bot["port"]
    UnitWebhook.objects.create(unit=people.unit_a, url=f"https://bot.example.com:{port}/send")
    # The same server under a name its certificate does not carry: refused by TLS.
    UnitWebhook.objects.create(unit=people.unit_b, url=f"https://other.example.com:{port}/send")
    people.case(people.unit_a, deadline=TODAY + timedelta(days=1))
    people.case(people.unit_b, deadline=TODAY + timedelta(days=1))
    services.sweep()
    services.deliver()
    sent = Delivery.objects.get(channel="webhook", unit=people.unit_a)
    refused = Delivery.objects.get(channel="webhook", unit=people.unit_b)
    assert sent.status == "sent"
    assert "bot.example.com" in tls_bot["sni"] and "other.example.com" in tls_bot["sni"]
    assert tls_bot["hosts"] == [f"bot.example.com:{port}"]
    assert (refused.status, refused.last_error) == ("pending", "TLS 证书校验失败。")
