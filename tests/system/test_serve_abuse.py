"""``confrec serve`` under unauthenticated abuse, a real serve on loopback: 300 stalled
connections (endless headers, one endless header line, half request lines, webhook bodies
one byte short, bodies dribbled byte by byte) neither grow it by 150 MiB nor slow an
authenticated request past 2 s, and each is closed by serve well within 60 s; a dribbled
body is answered 408; a webhook body over 64 KiB is 413 unread, and counted; a broker that
accepts and never answers leaves /v1 prompt, and /healthz bounded and cached on one
connection. The deadlines are set short here (env), not in the product."""

from __future__ import annotations

import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from nacl.signing import SigningKey

from confrec.worker.local.processes import (
    CONFREC,
    ManagedProcess,
    free_port,
    ready_or_stop,
    spawn,
)
from tests.support.hooks import public_key
from tests.support.hostile import KINDS, Hostiles, tree_rss_bytes
from tests.support.serve import GOOD, TOKEN_A, Stack, counters, running_stack, telnyx_errors
from tests.support.waiting import poll

TIMEOUT_S = 2.0  # serve's head and body deadlines in these tests
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def stack(redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path) -> Iterator[Stack]:
    """A serve with short deadlines and a public key (so the webhook reads its body)."""
    key = public_key(SigningKey.generate())
    with running_stack(
        workdir,
        redis_proc.extra["url"],
        simulator,
        TELNYX_PUBLIC_KEY=key,
        CONFREC_SERVE_HEADER_TIMEOUT_S=str(TIMEOUT_S),
        CONFREC_SERVE_BODY_TIMEOUT_S=str(TIMEOUT_S),
    ) as running:
        yield running


def port_of(stack: Stack) -> int:
    return int(stack.api.root.rsplit(":", 1)[1])


def timed_status(stack: Stack, job_id: str) -> float:
    started = time.monotonic()
    assert stack.api.status(job_id)["job_id"] == job_id
    return time.monotonic() - started


def test_300_stalled_connections_neither_grow_serve_nor_slow_it(stack: Stack) -> None:
    job_id = stack.api.enqueue(GOOD)["job_id"]
    for _ in range(20):  # warm: the first requests allocate what every request reuses
        timed_status(stack, job_id)
    pid = stack.serve.popen.pid
    rss, answers = [tree_rss_bytes(pid)], list[float]()
    with Hostiles(port_of(stack), 300) as hostiles:
        # While they all stall (the deadlines are 2 s): an authenticated request is prompt.
        while len(hostiles.open()) > 250 and len(answers) < 20:
            answers.append(timed_status(stack, job_id))
            rss.append(tree_rss_bytes(pid))
        assert answers, "the stalled connections were gone before a request could be timed"

        def sample() -> int:
            rss.append(tree_rss_bytes(pid))
            return len(hostiles.open())

        poll(sample, lambda still_open: still_open == 0, 60, "every stalled connection closed")
    assert max(answers) < 2.0, answers
    assert max(rss) - rss[0] < 150 * MiB, (rss[0], max(rss))
    lifetimes = dict.fromkeys(KINDS, 0.0)
    for conn in hostiles.conns:
        assert conn.closed is not None, f"serve left a {conn.kind} connection open"
        lifetimes[conn.kind] = max(lifetimes[conn.kind], conn.closed - conn.opened)
    # Closed by serve at its deadlines (2 s) or its 64 KiB head buffer, long before 60 s.
    assert all(lifetime < 4 * TIMEOUT_S + 5 for lifetime in lifetimes.values()), lifetimes
    assert timed_status(stack, job_id) < 2.0


def test_a_dribbled_body_is_answered_408_and_closed(stack: Stack) -> None:
    with socket.create_connection(("127.0.0.1", port_of(stack)), timeout=10) as sock:
        head = f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN_A}\r\n"
        sock.sendall(
            head.encode() + b"Content-Type: application/json\r\nContent-Length: 99\r\n\r\n"
        )
        started, answer = time.monotonic(), b""
        for _ in range(40):  # 4 s of one byte per 100 ms: longer than the deadline
            try:
                sock.sendall(b" ")
            except OSError:
                break
            # Paced by waiting (100 ms at most) for serve's answer: it ends the dribble.
            if select.select([sock], [], [], 0.1)[0]:
                break
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"connection: close" in answer.lower()
    assert time.monotonic() - started < TIMEOUT_S + 3


def test_a_webhook_over_64_kib_is_refused_unread_and_counted(stack: Stack) -> None:
    api = stack.api
    before = counters(api, "confrec_webhooks_total")[("unverified", "too_large")]
    over = api.send("POST", "/webhooks/telnyx", token=None, content=b"{" * (64 * 1024 + 1))
    telnyx_errors(over, 413)
    # Declared too large: answered before a byte of the body is sent.
    with socket.create_connection(("127.0.0.1", port_of(stack)), timeout=5) as sock:
        sock.sendall(
            b"POST /webhooks/telnyx HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 413 ")
    after = counters(api, "confrec_webhooks_total")[("unverified", "too_large")]
    assert after - before == 2


# a broker that accepts and never answers


class StalledBroker:
    """A listening socket that accepts connections, counts them, and never answers."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.server.close()
        self.thread.join(5)
        for conn in self.accepted:
            conn.close()


def test_a_stalled_broker_leaves_v1_prompt_and_healthz_bounded_and_cached(
    redis_proc: ManagedProcess, workdir: Path
) -> None:
    broker = StalledBroker()
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    env = {
        "CONFREC_BROKER_URL": f"redis://127.0.0.1:{broker.port}/0",
        "CONFREC_REDIS_URL": redis_proc.extra["url"],
        "CONFREC_API_TOKENS": TOKEN_A,
        "CONFREC_HEALTHZ_TIMEOUT_S": "0.5",
    }
    argv = [*CONFREC, "serve", "--host", "127.0.0.1", "--port", str(port)]
    serve = spawn(f"serve-stalled-broker-{port}", argv, workdir / "stalled-broker", env)
    http = httpx.Client(timeout=15)
    unknown = f"{root}/v1/jobs/no-such-{uuid.uuid4().hex}"
    auth = {"Authorization": f"Bearer {TOKEN_A}"}
    try:
        ready_or_stop(serve, lambda: _answers(http, unknown), 20, "serve, stalled broker")

        def healthz(_: int) -> tuple[float, httpx.Response]:
            started = time.monotonic()
            answer = http.get(f"{root}/healthz")
            return time.monotonic() - started, answer

        def v1() -> float:
            started = time.monotonic()
            assert http.get(unknown, headers=auth).status_code == 404
            return time.monotonic() - started

        with ThreadPoolExecutor(80) as pool:  # more than the thread pool /v1 uses (40)
            calls = pool.map(healthz, range(80))
            prompt = [v1() for _ in range(10)]
            probes = list(calls)
        assert max(prompt) < 1.0, prompt
        # One kept connection, not one per call (the old code: 80 calls, ~80 connections).
        assert len(broker.accepted) <= 2, len(broker.accepted)
        for took, answer in probes:
            assert answer.status_code == 503
            assert answer.json()["checks"] == {"broker": "failed: timeout", "redis": "ok"}
            assert took < 3.0, took  # a round's 0.5 s, after the round in flight
    finally:
        http.close()
        serve.stop()
        broker.close()


def _answers(http: httpx.Client, url: str) -> bool:
    try:
        auth = {"Authorization": f"Bearer {TOKEN_A}"}
        return http.get(url, headers=auth, timeout=1).status_code == 404
    except httpx.HTTPError:
        return False
