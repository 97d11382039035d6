"""Tests for the Telnyx simulator (simulator/).

Servers run under uvicorn in a background thread (``serve_in_thread``) on port 0
and are driven with httpx, as the worker will drive them.  Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from confrec.simulator import SimOptions, create_app, serve_in_thread
from confrec.simulator import drop as drop_module
from confrec.simulator import server as server_module
from confrec.simulator.app import conference_id_from_path
from confrec.simulator.faults import Answer, CountedFault, FaultPlan, parse_faults
from confrec.simulator.state import SimState

API_KEY = "test-key-s3cret"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
REPO = Path(__file__).resolve().parents[2]
NO_WEBHOOKS = {"sent": 0, "attempts": 0, "failed": 0, "pending": 0}


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


def url(conference_id: str) -> str:
    return f"/v2/conferences/{quote(conference_id, safe='')}/actions/record_start"


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    with SimServer(api_key=API_KEY) as srv:
        yield srv


@pytest.fixture
def client(server: SimServer) -> Iterator[httpx.Client]:
    with server.client(headers=AUTH) as c:
        assert c.post("/_sim/reset").json() == {"ok": True}
        yield c


def start(c: httpx.Client, conference_id: str, **body: Any) -> httpx.Response:
    return c.post(url(conference_id), json={"format": "wav", **body})


def statuses(c: httpx.Client, conference_id: str) -> list[int]:
    rows = c.get("/_sim/requests", params={"conference_id": conference_id}).json()
    return [row["status"] for row in rows]


# -- pure modules ------------------------------------------------------------


def test_parse_faults() -> None:
    assert parse_faults("conf-123") == FaultPlan()
    for normal in ("missing", "flaky-x", "flaky-3", "FLAKY-1-x", "slow-abc-x", "flaky-٣-x"):
        assert parse_faults(normal) == FaultPlan(), normal
    assert parse_faults("missing-x").terminal is Answer.MISSING
    assert parse_faults("ended-x").terminal is Answer.ENDED
    assert parse_faults("slow-250-x") == FaultPlan(slow_ms=250.0)
    plan = parse_faults("slow-5-flaky-2-ratelimited-1-drop-1-timeout408-1-missing-x")
    assert plan.slow_ms == 5.0
    assert plan.script == (
        CountedFault(Answer.FLAKY, 2),
        CountedFault(Answer.RATELIMITED, 1),
        CountedFault(Answer.DROP, 1),
        CountedFault(Answer.TIMEOUT408, 1),
    )
    answers = [plan.answer_for(n) for n in range(1, 8)]
    assert answers[:4] == [Answer.FLAKY, Answer.FLAKY, Answer.RATELIMITED, Answer.DROP]
    assert answers[4:] == [Answer.TIMEOUT408, Answer.MISSING, Answer.MISSING]


def test_conference_id_from_path() -> None:
    assert conference_id_from_path(url("a/b#c?d e é")) == "a/b#c?d e é"
    assert conference_id_from_path("/v2/conferences/a/b/actions/record_start") is None
    assert conference_id_from_path("/v2/conferences//actions/record_start") is None


def test_state_dedupe_window_and_global_limit() -> None:
    st = SimState(dedupe_window_s=10.0, limit_rps=2.0)
    assert st.start_recording("c", "cmd", now=0.0) is True
    assert st.start_recording("c", "cmd", now=9.9) is False
    assert st.start_recording("c", "cmd", now=10.0) is True  # window expired
    assert st.start_recording("other", "cmd", now=10.0) is True  # keyed per conference
    assert st.start_recording("c", None, now=10.0) is True
    assert st.start_recording("c", None, now=10.0) is True
    assert st.recordings_started == 5
    slots = [st.take_global_slot(100.1)[:2] for _ in range(3)] + [st.take_global_slot(101.0)[:2]]
    assert slots == [(True, 1), (True, 0), (False, 0), (True, 1)]
    with pytest.raises(ValueError):
        SimState(limit_rps=0)


# -- record_start: success, auth, paths --------------------------------------


def test_success(client: httpx.Client) -> None:
    r = start(client, "conf-1", command_id="c1", play_beep=True, unknown_field=[1, 2])
    assert r.status_code == 200
    assert r.json() == {"data": {"result": "ok"}}
    assert "x-ratelimit-limit" not in r.headers  # no global limit configured


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {API_KEY}"},
        {"Authorization": "Bearer"},
    ],
)
def test_auth_failed(server: SimServer, headers: dict[str, str]) -> None:
    with server.client(headers=headers) as c:
        r = start(c, "conf-auth")
    assert r.status_code == 401
    assert r.json() == {
        "errors": [
            {
                "code": "10009",
                "title": "Authentication failed",
                "detail": "The required authentication headers were either invalid or not "
                "included in the request.",
                "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10009"},
            }
        ]
    }


def test_no_api_key_accepts_any_bearer_but_not_none() -> None:
    with SimServer() as srv, srv.client() as c:
        assert start(c, "x", **{}).status_code == 401
        r = c.post(url("x"), json={"format": "mp3"}, headers={"Authorization": "Bearer any"})
        assert r.status_code == 200


def test_secret_never_echoed(client: httpx.Client) -> None:
    start(client, "conf-secret")
    client.post(url("conf-secret"), json={}, headers={"Authorization": "Bearer other-secret"})
    dump = (
        client.get("/_sim/stats").text
        + client.get("/_sim/requests", params={"conference_id": "conf-secret"}).text
    )
    assert API_KEY not in dump and "other-secret" not in dump


def test_path_encoding_round_trip(client: httpx.Client) -> None:
    cid = "a/b#c?d e é"
    r = client.post(
        "/v2/conferences/a%2Fb%23c%3Fd%20e%20%C3%A9/actions/record_start", json={"format": "wav"}
    )
    assert r.status_code == 200
    assert start(client, "100%-sure+x").status_code == 200
    conferences = client.get("/_sim/stats").json()["conferences"]
    assert set(conferences) == {cid, "100%-sure+x"}
    assert statuses(client, cid) == [200]
    # A raw slash is two segments: no such route.
    r = client.post("/v2/conferences/a/b/actions/record_start", json={"format": "wav"})
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "10007"


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert client.get("/v2/nope").status_code == 404
    r = client.get(url("x"))
    assert r.status_code == 405
    assert "errors" in r.json()


# -- faults -------------------------------------------------------------------


def test_missing_and_ended(client: httpx.Client) -> None:
    for _ in range(2):
        r = start(client, "missing-1")
        assert r.status_code == 404
        assert r.json() == {
            "errors": [
                {
                    "code": "90058",
                    "title": "Invalid conference_id",
                    "detail": "The conference does not exist.",
                }
            ]
        }
        r = start(client, "ended-1")
        assert r.status_code == 422
        err = r.json()["errors"][0]
        assert (err["code"], err["title"]) == ("90019", "Conference has already ended")
        assert err["detail"] == "This conference is no longer active and can't receive commands."
    assert client.get("/_sim/stats").json()["recordings_started"] == 0


def test_flaky_then_ok_and_401_does_not_use_up_fault(
    server: SimServer, client: httpx.Client
) -> None:
    with server.client() as anon:
        assert start(anon, "flaky-2-x").status_code == 401
    codes = [start(client, "flaky-2-x", command_id="k").status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert start(client, "flaky-2-x", command_id="k").status_code == 200  # duplicate
    r = client.post("/_sim/reset")
    assert r.status_code == 200
    r = start(client, "flaky-1-y")
    assert r.json()["errors"][0]["code"] == "10001"
    stats = client.get("/_sim/stats").json()
    assert stats["status_counts"] == {"503": 1}


def test_ratelimited_fault(client: httpx.Client) -> None:
    r = start(client, "ratelimited-1-x")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    assert r.headers["x-ratelimit-remaining"] == "0"
    assert "x-ratelimit-limit" in r.headers and "x-ratelimit-reset" in r.headers
    assert r.json()["errors"][0]["code"] == "10011"
    assert r.json()["errors"][0]["title"] == "Too many requests"
    assert start(client, "ratelimited-1-x").status_code == 200


def test_timeout408_and_chained(client: httpx.Client) -> None:
    assert [start(client, "timeout408-1-x").status_code for _ in range(2)] == [408, 200]
    codes = [start(client, "flaky-1-ratelimited-1-ended-x").status_code for _ in range(4)]
    assert codes == [503, 429, 422, 422]


def test_drop_closes_connection_without_response(server: SimServer) -> None:
    for _ in range(2):
        with (
            server.client(headers=AUTH, timeout=2.0) as c,
            pytest.raises(httpx.TransportError) as exc_info,
        ):
            start(c, "drop-2-x", command_id="d")
        assert not isinstance(exc_info.value, httpx.TimeoutException)
        assert "without sending a response" in str(exc_info.value)  # not a byte came back
    with server.client(headers=AUTH) as c:
        assert start(c, "drop-2-x", command_id="d").status_code == 200
        assert statuses(c, "drop-2-x") == [0, 0, 200]
        stats = c.get("/_sim/stats").json()
        assert stats["conferences"]["drop-2-x"] == {
            "requests": 3,
            "command_ids": ["d"],
            "recordings": 1,
        }


def test_drop_under_h11_as_under_httptools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without httptools uvicorn speaks h11; a drop is the same bare close there."""
    monkeypatch.setattr(server_module, "protocol_class", lambda: drop_module._H11Drop)
    with SimServer(api_key=API_KEY) as srv, srv.client(headers=AUTH) as c:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            start(c, "drop-1-h")
        assert start(c, "drop-1-h").status_code == 200
        assert statuses(c, "drop-1-h") == [0, 200]


def test_slow(client: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        client.post(url("slow-150-x"), json={"format": "wav"}, timeout=0.03)
    t0 = time.monotonic()
    assert start(client, "slow-150-x").status_code == 200
    assert time.monotonic() - t0 >= 0.14


# -- dedupe and validation ----------------------------------------------------


def test_dedupe(client: httpx.Client) -> None:
    assert [start(client, "conf-d", command_id="same").status_code for _ in range(2)] == [200, 200]
    assert start(client, "conf-e", command_id="one").status_code == 200
    assert start(client, "conf-e", command_id="two").status_code == 200
    assert start(client, "conf-f").status_code == 200
    assert start(client, "conf-f").status_code == 200
    confs = client.get("/_sim/stats").json()["conferences"]
    assert confs["conf-d"] == {"requests": 2, "command_ids": ["same"], "recordings": 1}
    assert confs["conf-e"] == {"requests": 2, "command_ids": ["one", "two"], "recordings": 2}
    assert confs["conf-f"]["recordings"] == 2


def test_dedupe_window_zero_never_dedupes() -> None:
    with SimServer(dedupe_window_s=0.0) as srv, srv.client(headers=AUTH) as c:
        start(c, "c", command_id="x")
        start(c, "c", command_id="x")
        assert c.get("/_sim/stats").json()["recordings_started"] == 2


@pytest.mark.parametrize(
    ("body", "code", "pointer"),
    [
        ({}, "10004", "/format"),
        ({"format": ""}, "10004", "/format"),
        ({"format": None}, "10004", "/format"),
        ({"format": "ogg"}, "10032", "/format"),
        ({"format": "wav", "channels": "quad"}, "10032", "/channels"),
        ({"format": "wav", "trim": "none"}, "10032", "/trim"),
        ({"format": "wav", "region": "us"}, "10032", "/region"),
        ({"format": "wav", "region": None}, "10032", "/region"),
        ({"format": "wav", "play_beep": "true"}, "10002", "/play_beep"),
        ({"format": "wav", "custom_file_name": ""}, "10033", "/custom_file_name"),
        ({"format": "wav", "custom_file_name": "x" * 41}, "10033", "/custom_file_name"),
        ({"format": "wav", "custom_file_name": 7}, "10002", "/custom_file_name"),
        ({"format": "wav", "command_id": 7}, "10002", "/command_id"),
        ([{"format": "wav"}], "10002", ""),
    ],
)
def test_validation(client: httpx.Client, body: Any, code: str, pointer: str) -> None:
    r = client.post(url("conf-v"), json=body)
    assert r.status_code == 422
    (err,) = r.json()["errors"]
    assert err["code"] == code
    assert err["source"]["pointer"] == pointer
    assert err["title"] and err["detail"]
    if code == "10004":
        assert err["detail"] == "The 'format' parameter is required and cannot be blank."
    if code == "10032" and pointer == "/channels":
        assert err["detail"] == "The value must be one of: dual, single."


def test_validation_valid_full_body_and_bad_json(client: httpx.Client) -> None:
    full = {
        "format": "mp3",
        "channels": "dual",
        "play_beep": False,
        "trim": "trim-silence",
        "custom_file_name": "x" * 40,
        "region": "Middle East",
    }
    assert client.post(url("conf-full"), json=full).status_code == 200
    r = client.post(
        url("conf-full"), content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "10002"


# -- global limit and latency -------------------------------------------------


def test_global_limit_rps() -> None:
    with SimServer(api_key=API_KEY, limit_rps=3) as srv, srv.client(headers=AUTH) as c:
        responses = [start(c, f"g-{i}") for i in range(10)]
        limited = [r for r in responses if r.status_code == 429]
        assert limited, "10 requests in < 2 windows must hit a limit of 3/s"
        r = limited[0]
        assert r.headers["Retry-After"] == "1"
        assert r.headers["x-ratelimit-limit"] == "3"
        assert r.headers["x-ratelimit-remaining"] == "0"
        assert int(r.headers["x-ratelimit-reset"]) >= 1
        assert r.json()["errors"][0]["code"] == "10011"
        ok = [r for r in responses if r.status_code == 200]
        assert ok[0].headers["x-ratelimit-limit"] == "3"
        # Within each 1-second window exactly min(3, arrivals) were admitted.
        per_window: dict[int, Counter[int]] = {}
        for i in range(10):
            (row,) = c.get("/_sim/requests", params={"conference_id": f"g-{i}"}).json()
            per_window.setdefault(int(row["t"]), Counter())[row["status"]] += 1
        for counts in per_window.values():
            assert counts[200] == min(3, counts.total())
        stats = c.get("/_sim/stats").json()
        assert stats["max_requests_in_any_second"] == max(n.total() for n in per_window.values())


def test_latency_is_concurrent() -> None:
    async def burst(root: str) -> list[int]:
        async with httpx.AsyncClient(base_url=root, headers=AUTH, timeout=5.0) as ac:
            rs = await asyncio.gather(
                *(ac.post(url(f"l-{i}"), json={"format": "wav"}) for i in range(50))
            )
        return [r.status_code for r in rs]

    with SimServer(api_key=API_KEY, latency_ms=100) as srv:
        t0 = time.monotonic()
        assert asyncio.run(burst(srv.root)) == [200] * 50
        elapsed = time.monotonic() - t0
    assert 0.1 <= elapsed < 1.5  # 50 x 100 ms served concurrently, not serially


# -- introspection ------------------------------------------------------------


def test_stats_requests_reset_health(client: httpx.Client) -> None:
    assert client.get("/_sim/health").json() == {"ok": True}
    t0 = time.time()
    start(client, "flaky-1-s", command_id="c-1")
    start(client, "flaky-1-s", command_id="c-1")
    start(client, "conf-s", format="bad")
    stats = client.get("/_sim/stats").json()
    assert stats == {
        "requests": 3,
        "recordings_started": 1,
        "status_counts": {"200": 1, "422": 1, "503": 1},
        "max_requests_in_any_second": stats["max_requests_in_any_second"],
        "conferences": {
            "flaky-1-s": {"requests": 2, "command_ids": ["c-1"], "recordings": 1},
            "conf-s": {"requests": 1, "command_ids": [], "recordings": 0},
        },
        "webhooks": NO_WEBHOOKS,  # no webhook URL configured
    }
    assert 1 <= stats["max_requests_in_any_second"] <= 3
    rows = client.get("/_sim/requests", params={"conference_id": "flaky-1-s"}).json()
    assert [(r["command_id"], r["status"]) for r in rows] == [("c-1", 503), ("c-1", 200)]
    assert t0 - 1 <= rows[0]["t"] <= rows[1]["t"] <= time.time() + 1
    assert "conferences" not in client.get("/_sim/stats", params={"conferences": "0"}).json()
    assert client.get("/_sim/requests", params={"conference_id": "nope"}).json() == []
    assert client.get("/_sim/requests").status_code == 400

    client.post("/_sim/reset")
    assert client.get("/_sim/stats").json() == {
        "requests": 0,
        "recordings_started": 0,
        "status_counts": {},
        "max_requests_in_any_second": 0,
        "conferences": {},
        "webhooks": NO_WEBHOOKS,
    }
    # Fault counters restart too.
    assert start(client, "flaky-1-s").status_code == 503


# -- run() ----------------------------------------------------------------------


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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_prints_port_and_exits_cleanly(sig: signal.Signals) -> None:
    code = (
        "from confrec.simulator import SimOptions, run; "
        "run(SimOptions(api_key='k', latency_ms=1), port=0)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        key_line, line = read_lines(proc, 2, time.monotonic() + 10)
        assert key_line.startswith("simulator webhook public key "), key_line
        prefix = "simulator listening on http://127.0.0.1:"
        assert line.startswith(prefix) and line.endswith("/v2"), line
        port = int(line[len(prefix) : -len("/v2")])
        assert port > 0
        base = line.removeprefix("simulator listening on ")
        r = httpx.post(
            base + "/conferences/x/actions/record_start",
            json={"format": "wav"},
            headers={"Authorization": "Bearer k"},
            timeout=5,
        )
        assert r.status_code == 200
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
