"""The simulator's webhook side: signed ``conference.recording.saved`` deliveries.

A receiver (a Starlette app, also on ``serve_in_thread``) on 127.0.0.1:<free port>
records every POST; each test polls with a deadline, never sleeps to synchronize.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from nacl.signing import SigningKey, VerifyKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confrec.simulator import SimOptions, create_app, parse_signing_key, serve_in_thread
from confrec.simulator.faults import parse_faults
from confrec.simulator.webhooks import WebhookRetry, check_webhook_url
from tests.support.simulator import read_lines
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer k"}
SEED = bytes(range(32))
SEED_B64 = base64.b64encode(SEED).decode()
FAST = WebhookRetry(first_backoff_s=0.02, max_backoff_s=0.05)
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rec:
        yield rec


@contextmanager
def simulator(**kwargs: Any) -> Iterator[httpx.Client]:
    """A simulator in a thread, and a client of it (bearer ``k`` accepted)."""
    with (
        serve_in_thread(create_app(SimOptions(**kwargs))) as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=5.0) as client,
    ):
        yield client


def url(conference_id: str) -> str:
    return f"/v2/conferences/{quote(conference_id, safe='')}/actions/record_start"


def start(c: httpx.Client, conference_id: str, **body: Any) -> httpx.Response:
    return c.post(url(conference_id), json={"format": "wav", **body})


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


def public_key(c: httpx.Client) -> str:
    key: str = c.get("/_sim/public-key").json()["public_key"]
    assert len(base64.b64decode(key)) == 32
    return key


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- options -------------------------------------------------------------------


def test_signing_key_and_options() -> None:
    assert parse_signing_key(SEED_B64) == SEED
    for bad in ("not base64!", base64.b64encode(b"x" * 31).decode(), ""):
        with pytest.raises(ValueError):
            parse_signing_key(bad)
    assert check_webhook_url("https://h/x") == "https://h/x"
    for bad_url in ("ftp://h/x", "/hook", "http://"):
        with pytest.raises(ValueError):
            check_webhook_url(bad_url)
    with pytest.raises(ValueError):
        create_app(SimOptions(webhook_url="h:80/x"))
    with pytest.raises(ValueError):
        create_app(SimOptions(recording_seconds=-1))
    with pytest.raises(ValueError):
        create_app(SimOptions(signing_key="short"))


def test_public_key_deterministic_with_signing_key_and_served_without_webhooks() -> None:
    expected = base64.b64encode(bytes(SigningKey(SEED).verify_key)).decode()
    with simulator(signing_key=SEED_B64) as a, simulator(signing_key=SEED_B64) as b:
        assert public_key(a) == public_key(b) == expected
    with simulator() as c, simulator() as d:
        assert public_key(c) != public_key(d)  # a fresh key each
        assert start(c, "conf-1").status_code == 200
        assert settled(c) == {"sent": 0, "attempts": 0, "failed": 0, "pending": 0}
        assert c.get("/_sim/webhooks").json() == []


def test_parse_webhook_directives() -> None:
    assert parse_faults("dupsaved-x").dup_saved
    assert parse_faults("latesaved-250-x").late_saved_ms == 250.0
    plan = parse_faults("dupsaved-latesaved-5-flaky-1-slow-3-x")
    assert (plan.dup_saved, plan.late_saved_ms, plan.slow_ms) == (True, 5.0, 3.0)
    assert len(plan.script) == 1
    for normal in ("dupsaved", "latesaved-5", "latesaved-x-y", "x-dupsaved-y"):
        assert parse_faults(normal) == parse_faults("conf"), normal


# -- deliveries ----------------------------------------------------------------


def test_saved_webhook_signed_with_the_fields_telnyx_sends(receiver: Receiver) -> None:
    cid = "a/b c é-ü?#%"
    with simulator(webhook_url=receiver.url, recording_seconds=0.05) as c:
        key = public_key(c)
        t0 = time.time()
        assert start(c, cid, format="mp3", channels="dual", command_id="c1").status_code == 200
        assert start(c, "conf-plain").status_code == 200
        wait_for(lambda: len(receiver.hits()) == 2, "two webhooks")
        assert settled(c) == {"sent": 2, "attempts": 2, "failed": 0, "pending": 0}
        rows = c.get("/_sim/webhooks").json()
    hits = {h.doc["data"]["payload"]["conference_id"]: h for h in receiver.hits()}
    assert set(hits) == {cid, "conf-plain"}
    for hit in hits.values():
        verify(hit, key)
    doc = hits[cid].doc
    assert doc["meta"] == {"attempt": 1, "delivered_to": receiver.url}
    data = doc["data"]
    assert (data["record_type"], data["event_type"]) == ("event", "conference.recording.saved")
    assert uuid.UUID(data["id"]).version == 4
    payload = data["payload"]
    rec_id = payload["recording_id"]
    assert uuid.UUID(rec_id).version == 4 and uuid.UUID(payload["call_session_id"]).version == 4
    assert (payload["format"], payload["channels"]) == ("mp3", "dual")
    assert payload["client_state"] is None
    assert payload["connection_id"] and payload["call_control_id"].startswith("v3:")
    for name in ("recording_urls", "public_recording_urls"):
        (file_url,) = payload[name].values()
        assert list(payload[name]) == ["mp3"]
        assert file_url.startswith("https://") and file_url.endswith(f"/{rec_id}.mp3")
        assert ".invalid/" in file_url
    for name in ("occurred_at", "recording_started_at", "recording_ended_at"):
        assert ISO_Z.match(data.get(name) or payload[name]), name
    assert payload["recording_started_at"] < payload["recording_ended_at"] == data["occurred_at"]
    assert payload["recording_started_at"][:19] >= time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - 1)
    )
    assert hits["conf-plain"].doc["data"]["payload"]["channels"] == "single"  # the default
    assert hits["conf-plain"].doc["data"]["payload"]["format"] == "wav"
    assert {(r["conference_id"], r["attempts"], r["status"], r["result"]) for r in rows} == {
        (cid, 1, 200, "sent"),
        ("conf-plain", 1, 200, "sent"),
    }
    assert {r["id"] for r in rows} == {h.doc["data"]["id"] for h in hits.values()}
    assert {r["recording_id"] for r in rows} == {
        h.doc["data"]["payload"]["recording_id"] for h in hits.values()
    }


def test_non_2xx_retried_resigned_then_sent() -> None:
    with (
        Receiver(statuses=(500, 503, 404)) as receiver,
        simulator(webhook_url=receiver.url, recording_seconds=0, webhook_retry=FAST) as c,
    ):
        assert start(c, "conf-r").status_code == 200
        assert settled(c) == {"sent": 1, "attempts": 4, "failed": 0, "pending": 0}
        key = public_key(c)
        (row,) = c.get("/_sim/webhooks").json()
        hits = receiver.hits()
    assert len(hits) == 4
    for hit in hits:
        verify(hit, key)
    assert [h.doc["meta"]["attempt"] for h in hits] == [1, 2, 3, 4]
    assert all(h.doc["data"] == hits[0].doc["data"] for h in hits)  # same event, same id
    assert (row["id"], row["attempts"], row["status"], row["result"]) == (
        hits[0].doc["data"]["id"],
        4,
        200,
        "sent",
    )


def test_connection_errors_retried_then_given_up() -> None:
    retry = WebhookRetry(first_backoff_s=0.01, max_backoff_s=0.02, max_attempts=3)
    dead = f"http://127.0.0.1:{free_port()}/hook"
    with simulator(webhook_url=dead, recording_seconds=0, webhook_retry=retry) as c:
        assert start(c, "conf-dead").status_code == 200
        assert settled(c) == {"sent": 0, "attempts": 3, "failed": 1, "pending": 0}
        (row,) = c.get("/_sim/webhooks").json()
    assert (row["conference_id"], row["attempts"], row["status"], row["result"]) == (
        "conf-dead",
        3,
        0,
        "failed",
    )


def test_given_up_after_time_and_per_request_timeout() -> None:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(0.5)
        return Response(status_code=200)

    app = Starlette(routes=[Route("/slow", slow, methods=["POST"])])
    retry = WebhookRetry(
        first_backoff_s=0.05,
        max_backoff_s=0.05,
        max_attempts=100,
        give_up_after_s=0.3,
        timeout_s=0.1,
    )
    with (
        serve_in_thread(app) as port,
        simulator(
            webhook_url=f"http://127.0.0.1:{port}/slow", recording_seconds=0, webhook_retry=retry
        ) as c,
    ):
        t0 = time.monotonic()
        assert start(c, "conf-slow").status_code == 200
        stats = settled(c)
        assert time.monotonic() - t0 < 3
        (row,) = c.get("/_sim/webhooks").json()
    assert stats["failed"] == 1 and stats["sent"] == 0
    assert 2 <= stats["attempts"] < 100
    assert (row["status"], row["result"]) == (0, "failed")


def test_dupsaved_delivers_twice_and_a_repeat_delivers_nothing(receiver: Receiver) -> None:
    with simulator(webhook_url=receiver.url, recording_seconds=0) as c:
        key = public_key(c)
        assert start(c, "dupsaved-x", command_id="d").status_code == 200
        assert start(c, "conf-once", command_id="same").status_code == 200
        assert start(c, "conf-once", command_id="same").status_code == 200  # de-duplicated
        assert settled(c) == {"sent": 3, "attempts": 3, "failed": 0, "pending": 0}
        stats = c.get("/_sim/stats").json()
    assert stats["conferences"]["conf-once"]["recordings"] == 1
    by_conf: dict[str, list[Hit]] = {}
    for hit in receiver.hits():
        verify(hit, key)
        by_conf.setdefault(hit.doc["data"]["payload"]["conference_id"], []).append(hit)
    assert {k: len(v) for k, v in by_conf.items()} == {"dupsaved-x": 2, "conf-once": 1}
    first, second = by_conf["dupsaved-x"]
    assert first.doc["data"] == second.doc["data"]
    assert first.body == second.body  # both first attempts: byte for byte the same


def test_only_started_recordings_produce_webhooks(receiver: Receiver) -> None:
    with simulator(webhook_url=receiver.url, recording_seconds=0) as c:
        assert [start(c, "flaky-1-x").status_code for _ in range(2)] == [503, 200]
        assert start(c, "missing-x").status_code == 404
        assert start(c, "ended-x").status_code == 422
        assert start(c, "conf-bad", format="ogg").status_code == 422
        with pytest.raises(httpx.TransportError):
            start(c, "drop-1-y")
        assert (
            c.post(
                url("conf-anon"), json={"format": "wav"}, headers={"Authorization": ""}
            ).status_code
            == 401
        )
        assert settled(c) == {"sent": 1, "attempts": 1, "failed": 0, "pending": 0}
    (hit,) = receiver.hits()
    assert hit.doc["data"]["payload"]["conference_id"] == "flaky-1-x"


def test_latesaved_arrives_after_a_later_recording(receiver: Receiver) -> None:
    with simulator(webhook_url=receiver.url, recording_seconds=0.05) as c:
        assert start(c, "latesaved-2000-a").status_code == 200
        assert start(c, "b").status_code == 200
        wait_for(lambda: len(receiver.hits()) == 2, "two webhooks")
        settled(c)  # the simulator records a delivery once its answer is back
        rows = c.get("/_sim/webhooks").json()
    docs = [h.doc["data"] for h in receiver.hits()]
    assert [d["payload"]["conference_id"] for d in docs] == ["b", "latesaved-2000-a"]
    assert [r["conference_id"] for r in rows] == ["b", "latesaved-2000-a"]
    late, early = docs[1], docs[0]
    # It happened first; it only arrives last.
    assert late["payload"]["recording_started_at"] <= early["payload"]["recording_started_at"]
    assert late["occurred_at"] <= early["occurred_at"]


def test_reset_cancels_pending_webhooks(receiver: Receiver) -> None:
    with simulator(webhook_url=receiver.url, recording_seconds=0.3) as c:
        assert start(c, "conf-p").status_code == 200
        assert c.get("/_sim/stats").json()["webhooks"]["pending"] == 1
        assert c.post("/_sim/reset").json() == {"ok": True}
        assert c.get("/_sim/stats").json()["webhooks"] == {
            "sent": 0,
            "attempts": 0,
            "failed": 0,
            "pending": 0,
        }
        # After the reset a new recording is delivered, the cancelled one never is.
        assert start(c, "conf-q").status_code == 200
        assert settled(c)["sent"] == 1
        assert [r["conference_id"] for r in c.get("/_sim/webhooks").json()] == ["conf-q"]
    assert [h.doc["data"]["payload"]["conference_id"] for h in receiver.hits()] == ["conf-q"]


# -- the CLI process -----------------------------------------------------------


def simulate(*args: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "confrec.worker.cli", "simulate", "--port", "0", *args]
    env = {k: v for k, v in os.environ.items() if k != "TELNYX_API_KEY"}
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=5)


def test_cli_prints_public_key_delivers_and_exits_0_on_sigterm(receiver: Receiver) -> None:
    expected = base64.b64encode(bytes(SigningKey(SEED).verify_key)).decode()
    proc = simulate(
        "--api-key",
        "k",
        "--signing-key",
        SEED_B64,
        "--webhook-url",
        receiver.url,
        "--recording-seconds",
        "0",
    )
    try:
        key_line, listening = read_lines(proc, 2, time.monotonic() + 15)
        assert key_line == f"simulator webhook public key {expected}"
        assert listening.startswith("simulator listening on http://127.0.0.1:")
        root = listening.removeprefix("simulator listening on ").removesuffix("/v2")
        with httpx.Client(base_url=root, headers=AUTH, timeout=5) as c:
            assert c.get("/_sim/public-key").json() == {"public_key": expected}
            assert start(c, "conf-cli").status_code == 200
            wait_for(lambda: len(receiver.hits()) == 1, "the webhook")
        verify(receiver.hits()[0], expected)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == b""
    finally:
        stop(proc)


def test_cli_sigterm_with_webhooks_pending_exits_0_promptly() -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"
    proc = simulate("--webhook-url", dead, "--recording-seconds", "60")
    try:
        _, listening = read_lines(proc, 2, time.monotonic() + 15)
        root = listening.removeprefix("simulator listening on ").removesuffix("/v2")
        with httpx.Client(base_url=root, headers=AUTH, timeout=5) as c:
            assert start(c, "conf-pending").status_code == 200
            assert c.get("/_sim/stats").json()["webhooks"]["pending"] == 1
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 5
    finally:
        stop(proc)


@pytest.mark.parametrize(
    ("option", "value"),
    [("--signing-key", "not base64!"), ("--signing-key", "AAAA"), ("--webhook-url", "nope")],
)
def test_cli_bad_webhook_options_exit_2(option: str, value: str) -> None:
    proc = simulate(option, value)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode == 2
    assert out == b""
    (line,) = err.decode().splitlines()
    assert line.startswith(f"error: {option}: ")
