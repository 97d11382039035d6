"""The Telnyx simulator's faults (simulator/): those a conference id names (missing, ended,
flaky, ratelimited, timeout408, drop, slow), the global rate limit and the latency.

Servers run under uvicorn in a background thread (``serve_in_thread``) on port 0 (the
module's in tests/unit/conftest.py, or one of a test's own) and are driven with httpx, as
the worker will drive them. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest

from confrec.simulator import drop as drop_module
from confrec.simulator import server as server_module
from confrec.simulator.faults import Answer, CountedFault, FaultPlan, parse_faults
from confrec.simulator.state import SimState
from tests.support.simulator import API_KEY, AUTH, SimServer, start, statuses, url

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
