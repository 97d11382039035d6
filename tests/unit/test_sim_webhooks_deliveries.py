"""The simulator's webhook side in-process: its options (signing key, webhook URL, the
directives a conference id may carry) and its signed ``conference.recording.saved``
deliveries, retried and re-signed, given up, duplicated or late on purpose.

A receiver (a Starlette app, also on ``serve_in_thread``) on 127.0.0.1:<free port>
records every POST; each test polls with a deadline, never sleeps to synchronize.
The ``confrec simulate`` process: test_sim_webhooks_cli.py.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid

import httpx
import pytest
from nacl.signing import SigningKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from confrec.simulator import SimOptions, create_app, parse_signing_key, serve_in_thread
from confrec.simulator.faults import parse_faults
from confrec.simulator.webhooks import WebhookRetry, check_webhook_url
from tests.support.sim_webhooks import (
    SEED,
    SEED_B64,
    Hit,
    Receiver,
    free_port,
    names,
    public_key,
    settled,
    simulator,
    verify,
    wait_for,
)
from tests.support.simulator import start, url

FAST = WebhookRetry(first_backoff_s=0.02, max_backoff_s=0.05)
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


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
        name_of = names(c)
        root = str(c.base_url).rstrip("/")
    # Addressed by name, the webhook carries the conference's id (a UUID), as Telnyx's do.
    hits = {name_of[h.doc["data"]["payload"]["conference_id"]]: h for h in receiver.hits()}
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
    assert uuid.UUID(payload["conference_id"]).version == 4
    for name in ("recording_urls", "public_recording_urls"):
        (file_url,) = payload[name].values()
        assert list(payload[name]) == ["mp3"]
        assert file_url.startswith(f"{root}/_sim/files/")  # the simulator serves the file
        assert file_url.split("?")[0].endswith(f"/{rec_id}.mp3")
    assert "X-Amz-Expires=600" in payload["recording_urls"]["mp3"]
    for name in ("occurred_at", "recording_started_at", "recording_ended_at"):
        assert ISO_Z.match(data.get(name) or payload[name]), name
    assert payload["recording_started_at"] < payload["recording_ended_at"] == data["occurred_at"]
    assert payload["recording_started_at"][:19] >= time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - 1)
    )
    assert hits["conf-plain"].doc["data"]["payload"]["channels"] == "single"  # the default
    assert hits["conf-plain"].doc["data"]["payload"]["format"] == "wav"
    assert {(r["conference_name"], r["attempts"], r["status"], r["result"]) for r in rows} == {
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
    assert (row["conference_name"], row["attempts"], row["status"], row["result"]) == (
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
        name_of = names(c)
    assert stats["conferences"]["conf-once"]["recordings"] == 1
    by_conf: dict[str, list[Hit]] = {}
    for hit in receiver.hits():
        verify(hit, key)
        by_conf.setdefault(name_of[hit.doc["data"]["payload"]["conference_id"]], []).append(hit)
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
        name_of = names(c)
    (hit,) = receiver.hits()
    assert name_of[hit.doc["data"]["payload"]["conference_id"]] == "flaky-1-x"


def test_latesaved_arrives_after_a_later_recording(receiver: Receiver) -> None:
    with simulator(webhook_url=receiver.url, recording_seconds=0.05) as c:
        assert start(c, "latesaved-2000-a").status_code == 200
        assert start(c, "b").status_code == 200
        wait_for(lambda: len(receiver.hits()) == 2, "two webhooks")
        settled(c)  # the simulator records a delivery once its answer is back
        rows = c.get("/_sim/webhooks").json()
        name_of = names(c)
    docs = [h.doc["data"] for h in receiver.hits()]
    assert [name_of[d["payload"]["conference_id"]] for d in docs] == ["b", "latesaved-2000-a"]
    assert [r["conference_name"] for r in rows] == ["b", "latesaved-2000-a"]
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
        assert [r["conference_name"] for r in c.get("/_sim/webhooks").json()] == ["conf-q"]
        name_of = names(c)
    assert [name_of[h.doc["data"]["payload"]["conference_id"]] for h in receiver.hits()] == [
        "conf-q"
    ]
