"""The simulator's webhooks in the unit tests: a receiver that records every POST, a
simulator in a thread with a client of it, and bounded waits and checks on deliveries."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from nacl.signing import VerifyKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confrec.simulator import SimOptions, create_app, serve_in_thread
from tests.support.waiting import wait_until

AUTH = {"Authorization": "Bearer k"}
SEED = bytes(range(32))
SEED_B64 = base64.b64encode(SEED).decode()


@dataclass(frozen=True)
class Hit:
    """One POST the receiver got."""

    headers: dict[str, str]
    body: bytes

    @property
    def doc(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records webhooks; answers each with the next scripted status (then 200)."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.statuses = deque(statuses)
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])
        self._stack = ExitStack()
        self.url = ""

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self._hits.append(Hit(dict(request.headers), body))
            status = self.statuses.popleft() if self.statuses else 200
        return Response(status_code=status)

    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def __enter__(self) -> Receiver:
        port = self._stack.enter_context(serve_in_thread(self.app))
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


@contextmanager
def simulator(**kwargs: Any) -> Iterator[httpx.Client]:
    """A simulator in a thread, and a client of it (bearer ``k`` accepted)."""
    with (
        serve_in_thread(create_app(SimOptions(**kwargs))) as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=5.0) as client,
    ):
        yield client


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    wait_until(check, timeout_s, what, interval=0.01)


def settled(c: httpx.Client) -> dict[str, int]:
    """``webhooks`` of /_sim/stats once nothing is pending any more."""
    wait_for(lambda: c.get("/_sim/stats").json()["webhooks"]["pending"] == 0, "no pending")
    stats: dict[str, int] = c.get("/_sim/stats").json()["webhooks"]
    return stats


def verify(hit: Hit, public_key: str) -> None:
    """The signature checks out as Telnyx's SDK checks it: f"{ts}|" + raw body."""
    ts = hit.headers["telnyx-timestamp"]
    assert ts.isdigit() and abs(int(ts) - time.time()) < 30
    signature = base64.b64decode(hit.headers["telnyx-signature-ed25519"])
    VerifyKey(base64.b64decode(public_key)).verify(f"{ts}|".encode() + hit.body, signature)
    assert hit.headers["content-type"] == "application/json"


def names(c: httpx.Client) -> dict[str, str]:
    """Conference id -> the name it was addressed by (webhooks carry the id)."""
    return {conf["id"]: conf["name"] for conf in c.get("/_sim/conferences").json()}


def public_key(c: httpx.Client) -> str:
    key: str = c.get("/_sim/public-key").json()["public_key"]
    assert len(base64.b64decode(key)) == 32
    return key


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
