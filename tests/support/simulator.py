"""The Telnyx simulator in the unit tests: a server on a thread of its own, requests to its
``record_start``, what it recorded, and reading a simulator process's first lines."""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from contextlib import ExitStack
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from confrec.simulator import SimOptions, create_app, serve_in_thread

API_KEY = "test-key-s3cret"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class SimServer:
    """A simulator on 127.0.0.1:<free port>, served by uvicorn from a thread of its own."""

    def __init__(self, **kwargs: Any) -> None:
        self.app = create_app(SimOptions(**kwargs))
        self._stack = ExitStack()
        self.root = ""

    def __enter__(self) -> SimServer:
        port = self._stack.enter_context(serve_in_thread(self.app))
        self.root = f"http://127.0.0.1:{port}"
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()  # stops the server and joins its thread, bounded

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 5.0)
        return httpx.Client(base_url=self.root, **kwargs)


class FakeClock:
    """Our clock, moved by hand (``SimOptions(clock=...)``)."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def conferences(c: httpx.Client) -> dict[str, Any]:
    """``GET /_sim/conferences`` by name (the latest conference of each name)."""
    rows = sorted(c.get("/_sim/conferences").json(), key=lambda r: r["created_at"])
    return {row["name"]: row for row in rows}


def url(conference_id: str) -> str:
    return f"/v2/conferences/{quote(conference_id, safe='')}/actions/record_start"


def start(c: httpx.Client, conference_id: str, **body: Any) -> httpx.Response:
    return c.post(url(conference_id), json={"format": "wav", **body})


def statuses(c: httpx.Client, conference_id: str) -> list[int]:
    rows = c.get("/_sim/requests", params={"conference_id": conference_id}).json()
    return [row["status"] for row in rows]


def read_lines(proc: subprocess.Popen[bytes], count: int, deadline: float) -> list[str]:
    """The first ``count`` lines of ``proc``'s stdout, waiting at most until ``deadline``."""
    assert proc.stdout is not None
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while buf.count(b"\n") < count:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {count} lines in time, got {buf!r}"
            if sel.select(remaining):
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, f"simulator exited early: {buf!r}"
                buf += chunk
    return buf.decode().splitlines()[:count]
