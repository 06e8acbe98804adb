"""A TCP proxy that can fail the way servers fail, to test outages of the shared PostgreSQL
and Redis without touching them.

Modes (`proxy.mode = ...` or the helpers):
- forward: relay both ways (the server is up);
- refuse: the listening socket is closed (connection refused) and open connections are reset
  (the server is stopped or restarting);
- hang: new connections are accepted and held without a byte forwarded or answered, and open
  connections stop relaying (the server is hung: a full disk, a stuck fork, a dead NAT entry);
- `cut()`: reset every open connection, keep accepting (a restart between two requests).

`cut_on(marker)` resets a connection as soon as the client sends bytes containing `marker`
(e.g. b'INSERT INTO "cases_caseevent"'): a deterministic "the server died mid-transaction".
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

FORWARD, REFUSE, HANG = "forward", "refuse", "hang"


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed server's kernel would."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with suppress(OSError):
        sock.close()


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._mode = FORWARD
        self._listener: socket.socket | None = None
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._held: set[socket.socket] = set()  # accepted while hung, never answered
        self._marker: bytes | None = None
        self._stopped = threading.Event()
        self.connections = 0  # accepted so far (forwarded or held)
        self.cuts_on_marker = 0
        self._listen(0)
        assert self._listener is not None
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    # --- control ---------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        assert mode in (FORWARD, REFUSE, HANG), mode
        with self._lock:
            previous, self._mode = self._mode, mode
            if mode == REFUSE:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
                self._reset_all()
            elif previous == REFUSE:
                self._listen(self.port)
            if previous == HANG and mode != HANG:
                # Whatever was accepted while hung is dropped (clients have given up on it).
                for sock in self._held:
                    _reset(sock)
                self._held.clear()

    def cut(self) -> None:
        """Reset every open connection; new ones are accepted as before."""
        with self._lock:
            self._reset_all()

    def cut_on(self, marker: bytes | None) -> None:
        """Reset a connection when its client sends `marker`; None turns it off."""
        self._marker = marker

    def url(self, scheme: str, path: str = "") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._stopped.set()
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            self._reset_all()
            for sock in self._held:
                _reset(sock)
            self._held.clear()
        self._acceptor.join(timeout=2)

    @contextmanager
    def outage(self, mode: str) -> Iterator[FaultProxy]:
        self.mode = mode
        try:
            yield self
        finally:
            self.mode = FORWARD

    # --- internals -------------------------------------------------------------------------

    def _listen(self, port: int) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        give_up = time.monotonic() + 2
        while True:
            try:
                listener.bind(("127.0.0.1", port))
                break
            except OSError:
                # The old listener is freed once the acceptor's poll on it returns (50 ms).
                if time.monotonic() > give_up:
                    listener.close()
                    raise
                time.sleep(0.02)
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener

    def _reset_all(self) -> None:
        for client, upstream in self._pairs:
            _reset(client)
            _reset(upstream)
        self._pairs.clear()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                client, _address = listener.accept()
            except (TimeoutError, OSError):
                continue
            client.settimeout(None)
            self.connections += 1
            with self._lock:
                mode = self._mode
                if mode == HANG:
                    self._held.add(client)
                    continue
                if mode == REFUSE:  # raced with a switch to refuse
                    _reset(client)
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
            threading.Thread(target=self._relay, args=(pair,), daemon=True).start()

    def _relay(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        other = {client: upstream, upstream: client}
        tail = b""  # the end of the client's last chunk, for a marker split across chunks
        try:
            while not self._stopped.is_set() and pair in self._pairs:
                if self._mode == HANG:
                    time.sleep(0.02)  # frozen: nothing read, nothing relayed
                    continue
                readable, _w, _x = select.select([client, upstream], [], [], 0.05)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("closed")
                    marker = self._marker
                    if sock is client and marker is not None:
                        if marker in tail + data:
                            self.cuts_on_marker += 1
                            raise ConnectionResetError("cut on marker")
                        tail = (tail + data)[-len(marker) :]
                    other[sock].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._pairs.discard(pair)
            _reset(client)
            _reset(upstream)
