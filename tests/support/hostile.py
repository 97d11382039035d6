"""Hostile HTTP clients for serve's abuse tests: connections that never finish a request,
driven from one thread, each noting when serve closed it; and the RSS of a process tree.
Loopback only, bounded in count and time."""

from __future__ import annotations

import errno
import itertools
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The kinds of stalled request, each its own way of never finishing one.
KINDS = ("endless-headers", "endless-line", "half-line", "short-body", "dribbled-body")
_SHORT = 64 * 1024  # at the webhook's cap: serve must wait for the last byte


def _opening(kind: str) -> bytes:
    if kind == "endless-headers":  # header lines, one every tick, never the blank line
        return b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    if kind == "endless-line":  # one header line that never ends, as fast as it can
        return b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: "
    if kind == "half-line":
        return b"GET /v1/jo"
    head = f"POST /webhooks/telnyx HTTP/1.1\r\nHost: x\r\nContent-Length: {_SHORT}\r\n\r\n"
    return head.encode() + (b"{" * (_SHORT - 1) if kind == "short-body" else b"{")


def _more(kind: str, tick: int) -> bytes:
    """What a connection sends on each tick after its opening (nothing: it stalls)."""
    if kind == "endless-headers":
        return f"X-Pad-{tick}: {'a' * 64}\r\n".encode()
    if kind == "endless-line":
        return b"a" * 16 * 1024
    return b"{" if kind == "dribbled-body" else b""


@dataclass
class Stalled:
    kind: str
    sock: socket.socket
    opened: float
    closed: float | None = None
    tick: int = 0


@dataclass
class Hostiles:
    """``count`` stalled connections to ``port``, kinds taken in turn, fed every ``tick_s``
    by one thread until serve closes each, or ``limit_s`` passes."""

    port: int
    count: int
    tick_s: float = 0.1
    limit_s: float = 60.0
    conns: list[Stalled] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Hostiles:
        for kind in itertools.islice(itertools.cycle(KINDS), self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(_opening(kind))
            sock.setblocking(False)
            self.conns.append(Stalled(kind, sock, time.monotonic()))
        self._thread = threading.Thread(target=self._drive, name="hostiles", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        for conn in self.conns:
            conn.sock.close()

    def open(self) -> list[Stalled]:
        return [c for c in self.conns if c.closed is None]

    def _drive(self) -> None:
        with selectors.DefaultSelector() as selector:
            for conn in self.conns:
                selector.register(conn.sock, selectors.EVENT_READ, conn)
            deadline = time.monotonic() + self.limit_s
            while self.open() and time.monotonic() < deadline and not self._stop.is_set():
                for key, _ in selector.select(self.tick_s):
                    conn = key.data
                    if self._read_closed(conn):
                        self._close(selector, conn)
                for conn in self.open():
                    conn.tick += 1
                    if not self._send(conn):
                        self._close(selector, conn)

    @staticmethod
    def _read_closed(conn: Stalled) -> bool:
        """Drain what serve answered (a 408, a 431); True once it closed the connection."""
        try:
            return conn.sock.recv(65536) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    @staticmethod
    def _send(conn: Stalled) -> bool:
        data = _more(conn.kind, conn.tick)
        if not data:
            return True
        try:
            conn.sock.send(data)
        except BlockingIOError:
            pass  # serve is not reading: the kernel's buffers are full
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET):
                return False
            raise
        return True

    @staticmethod
    def _close(selector: selectors.BaseSelector, conn: Stalled) -> None:
        conn.closed = time.monotonic()
        selector.unregister(conn.sock)


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (granian's worker process)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        rss = next((line for line in status.splitlines() if line.startswith("VmRSS:")), None)
        total += int(rss.split()[1]) * 1024 if rss else 0
    return total
