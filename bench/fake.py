"""A light fake Telnyx: ``python -m bench.fake --port P --latency-ms 20``.

Answers ``POST /v2/conferences/{id}/actions/record_start`` with Telnyx's success body
(``200 {"data": {"result": "ok"}}``) after a fixed latency, and nothing else of Telnyx: no
auth check, no de-duplication, no webhooks. One asyncio loop, a hand-rolled HTTP/1.1
parser (keep-alive, Content-Length bodies) and ``call_later`` for the latency, so a waiting
request costs no CPU and an answered one little: the cost phases run against it so that the
worker's CPU, not the server's, shows. The simulator (``confrec simulate``) stays the
realistic server.

Each record_start is recorded as it arrives: (wall-clock time, conference from the path,
the body's command_id). The bench reads them back over HTTP, as it does the simulator's:

* ``GET  /_sim/health``, ``GET /_sim/stats`` (``{"requests": n}``), ``POST /_sim/reset``
  (the simulator's names, so code written for one runs against the other);
* ``GET  /_fake/records?since=K``: ``{"records": [[t, conference, command_id], ...]}``
  from the K-th on.

Standard library only; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qs, unquote

PREFIX = "/v2/conferences/"
SUFFIX = "/actions/record_start"
OK_BODY = b'{"data":{"result":"ok"}}'
MAX_HEAD = 64 * 1024

Record = tuple[float, str, str | None]


class State:
    """What the fake has seen: one record per record_start, in arrival order."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.records: list[Record] = []


def _response(status: int, body: bytes, close: bool) -> bytes:
    reason = {200: "OK", 404: "Not Found", 400: "Bad Request"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
    )
    if close:
        head += "connection: close\r\n"
    return head.encode() + b"\r\n" + body


def _json(status: int, data: Any, close: bool) -> bytes:
    return _response(status, json.dumps(data, separators=(",", ":")).encode(), close)


class Connection(asyncio.Protocol):
    """One client connection: requests parsed as they arrive, answered in order."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.slots: deque[list[bytes | None]] = deque()  # answers, in request order
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while not self.closing:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._answer_now(_json(400, {"error": "head too large"}, True))
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection":
                    close = value.strip().lower() == "close"
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            parts = lines[0].split(" ")
            self.closing = close
            self._handle(parts[0], parts[1] if len(parts) > 1 else "/", body, close)

    def _handle(self, method: str, target: str, body: bytes, close: bool) -> None:
        path, _, query = target.partition("?")
        if method == "POST" and path.startswith(PREFIX) and path.endswith(SUFFIX):
            conference = unquote(path[len(PREFIX) : -len(SUFFIX)])
            self.state.records.append((time.time(), conference, _command_id(body)))
            slot: list[bytes | None] = [None]
            self.slots.append(slot)
            asyncio.get_running_loop().call_later(
                self.state.latency_s, self._fill, slot, _response(200, OK_BODY, close)
            )
            return
        self._answer_now(self._introspect(method, path, query, close))

    def _introspect(self, method: str, path: str, query: str, close: bool) -> bytes:
        records = self.state.records
        if method == "GET" and path == "/_sim/health":
            return _json(200, {"ok": True}, close)
        if method == "GET" and path == "/_sim/stats":
            return _json(200, {"requests": len(records)}, close)
        if method == "POST" and path == "/_sim/reset":
            records.clear()
            return _json(200, {"ok": True}, close)
        if method == "GET" and path == "/_fake/records":
            since = int(parse_qs(query).get("since", ["0"])[0])
            return _json(200, {"records": records[since:]}, close)
        return _json(404, {"errors": [{"code": "10005", "title": "Resource not found"}]}, close)

    def _answer_now(self, answer: bytes) -> None:
        slot: list[bytes | None] = [None]
        self.slots.append(slot)
        self._fill(slot, answer)

    def _fill(self, slot: list[bytes | None], answer: bytes) -> None:
        slot[0] = answer
        while self.slots and self.slots[0][0] is not None:
            ready = self.slots.popleft()[0]
            if self.transport is None:
                continue
            assert ready is not None
            self.transport.write(ready)
        if self.closing and not self.slots and self.transport is not None:
            self.transport.close()


def _command_id(body: bytes) -> str | None:
    try:
        found = json.loads(body).get("command_id")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


async def serve(host: str, port: int, latency_ms: float) -> None:
    state = State(latency_ms / 1000)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(state), host, port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"fake Telnyx on http://{host}:{port} latency {latency_ms:g} ms", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fake", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.latency_ms))


if __name__ == "__main__":
    main()
