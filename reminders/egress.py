"""Where the server may send requests of its own (units' group bots), and the one HTTP client
that obeys it.

A webhook URL is typed by an admin, so without a policy it is a server-side request forgery:
the worker would POST to the cloud metadata service, the database's admin port or any
intranet host, and show the answer in the admin. The policy, checked when a webhook is saved
(`validate_url`) and again when it is sent (`post`):
- https only; plain http only with the development setting WEBHOOK_ALLOW_HTTP;
- every address the host name resolves to is public: no loopback, private (RFC 1918), shared
  (CGNAT 100.64/10), link-local (169.254.169.254, the metadata service), multicast, reserved
  or unspecified address, no IPv6 loopback, ULA or link-local, and no IPv6 form that embeds
  such an IPv4 address (IPv4-mapped, 6to4, NAT64);
- the request connects to the very address that was checked (a second DNS answer, "DNS
  rebinding", is never asked for), while the Host header, TLS SNI and certificate check use
  the host name;
- no redirects (a 3xx is an answer like any other: the caller treats it as a failure);
- one deadline for the whole send: name lookup, connect, TLS, request and the whole answer.

WEBHOOK_TEST_ALLOW_ADDRESSES lets the test suite reach its own servers on 127.0.0.1; the
settings refuse to start with it (or WEBHOOK_ALLOW_HTTP) when debug is off.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # CGNAT: inside a carrier, not the internet
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known NAT64 prefix embeds an IPv4


class EgressError(Exception):
    """The send did not happen or did not finish; the message is short, classified and never
    quotes what the other side sent (it is recorded and shown in the admin)."""


class Refused(EgressError):
    """The target is not allowed by the policy: nothing was sent, no connection was made."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written: the Host header, TLS SNI and the certificate's name
    port: int
    path: str  # path and query
    address: str  # the checked address the request connects to


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Whether `ip` is an address on the public internet (and so a bot may live there)."""
    if ip.version == 6:
        if ip.ipv4_mapped is not None:  # type: ignore[union-attr]
            return is_public(ip.ipv4_mapped)  # type: ignore[union-attr]
        embedded = _embedded_ipv4(ip)  # type: ignore[arg-type]
        if embedded is not None and not is_public(embedded):
            return False
        if ip.is_site_local:  # type: ignore[union-attr]
            return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in _SHARED
    )


def _test_allowed(ip: IPAddress) -> bool:
    # Test-only: the settings refuse to start with this list when debug is off.
    for network in getattr(settings, "WEBHOOK_TEST_ALLOW_ADDRESSES", ()):
        if ip in ipaddress.ip_network(network, strict=False):
            return True
    return False


def is_permitted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("%eth0")
    except ValueError:
        return False
    return is_public(ip) or _test_allowed(ip)


def _parse(url: str) -> tuple[str, str, int, str]:
    """Scheme, host, port and path-with-query of an acceptable URL, or Refused."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise Refused(_("Webhook 地址格式无效。")) from None
    scheme = parts.scheme.lower()
    allowed = {"https", "http"} if settings.WEBHOOK_ALLOW_HTTP else {"https"}
    if scheme not in allowed:
        raise Refused(_("Webhook 地址须以 https:// 开头。"))
    if parts.username is not None or parts.password is not None:
        # "https://bot.example.com@10.0.0.1/" reads as one host and goes to another.
        raise Refused(_("Webhook 地址不能包含用户名或密码。"))
    if not parts.hostname:
        raise Refused(_("Webhook 地址缺少主机名。"))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def _lookup(host: str, port: int, timeout: float) -> list[str]:
    """The addresses of `host`, within `timeout` (getaddrinfo has no timeout of its own, so it
    runs in a thread that is abandoned if the resolver hangs)."""
    found: dict[str, Any] = {}

    def run() -> None:
        try:
            found["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            found["error"] = error

    worker = threading.Thread(target=run, name="webhook-dns", daemon=True)
    worker.start()
    worker.join(max(timeout, 0))
    if worker.is_alive():
        raise EgressError(_("域名解析超时。"))
    if "error" in found:
        raise EgressError(_("无法解析 Webhook 地址的域名。"))
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found["infos"]))
    if not addresses:
        raise EgressError(_("无法解析 Webhook 地址的域名。"))
    return addresses


def resolve(url: str, *, timeout: float) -> Target:
    """Check `url` against the policy and pick the address to connect to.

    Every address the name resolves to must be permitted, not just the first: a name that
    answers both a public and an internal address could otherwise be steered inside."""
    scheme, host, port, path = _parse(url)
    addresses = _lookup(host, port, timeout)
    if not all(is_permitted(address) for address in addresses):
        raise Refused(_("Webhook 地址指向内部网络或保留地址，只允许公网地址。"))
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def validate_url(url: str) -> None:
    """For forms and model validation: a ValidationError naming what is wrong."""
    from django.core.exceptions import ValidationError

    try:
        resolve(url, timeout=float(settings.WEBHOOK_SEND_DEADLINE_SECONDS))
    except EgressError as error:
        raise ValidationError(str(error), code="webhook_target") from None


# --- The pinned client -----------------------------------------------------------------------


class _DeadlineSocket:
    """A socket whose every send and receive waits at most until the common deadline, so a
    server trickling one byte at a time cannot stretch a send beyond it (a per-read timeout
    restarts with each byte)."""

    def __init__(self, sock: socket.socket, end: float) -> None:
        self._sock, self._end = sock, end
        # As socket.socket does: the connection closes its socket while the response is still
        # being read through a file made from it; the real close waits for that file.
        self._io_refs, self._closed = 0, False

    def _arm(self) -> None:
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline")
        self._sock.settimeout(left)

    def sendall(self, data: bytes) -> None:
        self._arm()
        self._sock.sendall(data)  # one timeout for the whole sendall (Python ≥ 3.5)

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        self._arm()
        # SSLSocket reads nothing when asked for 0 bytes: pass the size only when given.
        return self._sock.recv_into(buffer, nbytes) if nbytes else self._sock.recv_into(buffer)

    def makefile(self, mode: str = "rb", **_kwargs: Any) -> io.BufferedReader:
        self._io_refs += 1
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:
        self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._io_refs <= 0:
            self._sock.close()


class _PinnedConnection(http.client.HTTPConnection):
    """Connects to `target.address`; http.client keeps `target.host` for the Host header."""

    def __init__(self, target: Target, end: float) -> None:
        super().__init__(target.host, target.port)
        self._target, self._end = target, end

    def connect(self) -> None:
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline")
        sock = socket.create_connection((self._target.address, self._target.port), timeout=left)
        if self._target.scheme == "https":
            context = ssl.create_default_context()  # verifies the chain and the host name
            try:
                sock.settimeout(max(self._end - time.monotonic(), 0.001))
                # The handshake has one deadline for all its reads (CPython's SSL timeouts).
                sock = context.wrap_socket(sock, server_hostname=self._target.host)
            except BaseException:
                sock.close()
                raise
        self.sock = _DeadlineSocket(sock, self._end)


def _classify(error: BaseException, seconds: float) -> EgressError:
    if isinstance(error, TimeoutError):
        return EgressError(_("超时：%(seconds)s 秒内未完成发送。") % {"seconds": round(seconds, 1)})
    if isinstance(error, ssl.SSLCertVerificationError):
        return EgressError(_("TLS 证书校验失败。"))
    if isinstance(error, ssl.SSLError):
        return EgressError(_("TLS 握手失败。"))
    if isinstance(error, ConnectionRefusedError):
        return EgressError(_("连接被拒绝。"))
    if isinstance(error, ValueError):  # e.g. a path that is not ASCII
        return EgressError(_("Webhook 地址格式无效。"))
    if isinstance(error, http.client.HTTPException):
        return EgressError(_("应答不是有效的 HTTP。"))
    return EgressError(_("网络错误（%(kind)s）。") % {"kind": type(error).__name__})


def post(url: str, body: bytes, headers: dict[str, str], *, seconds: float,
         max_bytes: int = 65536) -> tuple[int, bytes]:  # fmt: skip
    """POST `body` to `url` within `seconds` in all; the status and at most `max_bytes` of the
    answer. Redirects are not followed. Raises Refused or EgressError (never with the answer's
    text in it)."""
    end = time.monotonic() + seconds
    target = resolve(url, timeout=seconds)
    connection = _PinnedConnection(target, end)
    try:
        connection.request(
            "POST", target.path, body=body, headers={**headers, "Connection": "close"}
        )
        response = connection.getresponse()
        try:
            return response.status, response.read(max_bytes)
        finally:
            response.close()
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise _classify(error, seconds) from None
    finally:
        connection.close()
