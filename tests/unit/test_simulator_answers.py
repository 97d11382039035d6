"""The Telnyx simulator's answers to ``record_start`` (simulator/): success, auth, path
encoding, dedupe, validation, and its introspection routes (/_sim/...).

The module's simulator (tests/unit/conftest.py) runs under uvicorn in a background thread
(``serve_in_thread``) on port 0 and is driven with httpx, as the worker will drive it.
Every wait is bounded. Faults: test_simulator_faults.py; ``run()``: test_simulator_run.py.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from confrec.simulator.app import conference_id_from_path
from tests.support.simulator import API_KEY, AUTH, SimServer, start, statuses, url

NO_WEBHOOKS = {"sent": 0, "attempts": 0, "failed": 0, "pending": 0}


# -- pure modules ------------------------------------------------------------


def test_conference_id_from_path() -> None:
    assert conference_id_from_path(url("a/b#c?d e é")) == "a/b#c?d e é"
    assert conference_id_from_path("/v2/conferences/a/b/actions/record_start") is None
    assert conference_id_from_path("/v2/conferences//actions/record_start") is None


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
