"""``POST /webhooks/telnyx`` on a real ``confrec serve``: Ed25519 signatures made here with a
key of the test's own, events stored once per ``data.id`` and matched to the job a real
worker started on the conference; then the simulator's own signed webhooks, end to end."""

from __future__ import annotations

import base64
import json
import math
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey

from confrec.config.settings import Settings
from confrec.tasks.job import RecordStartJob
from confrec.worker.local.processes import ManagedProcess, free_port, start_simulator
from confrec.worker.producing import create_producer
from tests.support.serve import (
    JSON,
    WRONG_TOKEN,
    Stack,
    assert_no_secret_anywhere,
    counters,
    running_stack,
    telnyx_errors,
)
from tests.support.system import API_KEY, unique
from tests.support.waiting import poll

SAVED = "conference.recording.saved"
REJECTED = ("unverified", "rejected")
STORED = (SAVED, "stored")
DUPLICATE = (SAVED, "duplicate")


def public_key(key: SigningKey) -> str:
    return base64.b64encode(bytes(key.verify_key)).decode()


def signed(key: SigningKey, body: bytes, timestamp: int | str) -> dict[str, str]:
    """Headers as Telnyx sends them: Ed25519 over ``"{timestamp}|{body}"``."""
    signature = key.sign(f"{timestamp}|".encode() + body).signature
    return {
        **JSON,
        "telnyx-timestamp": str(timestamp),
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
    }


def saved_event(
    conference_id: str, fmt: str = "wav", *, event_type: str = SAVED, at: float | None = None
) -> dict[str, Any]:
    """A webhook's ``data``, shaped as Telnyx's ``conference.recording.saved``."""
    recording_id = str(uuid.uuid4())
    when = datetime.fromtimestamp(at or time.time(), UTC).isoformat()
    return {
        "record_type": "event",
        "event_type": event_type,
        "id": str(uuid.uuid4()),
        "occurred_at": when,
        "payload": {
            "conference_id": conference_id,
            "recording_id": recording_id,
            "format": fmt,
            "channels": "single",
            "recording_ended_at": when,
            "recording_urls": {fmt: f"https://rec.example.invalid/{recording_id}.{fmt}"},
        },
    }


def envelope(data: dict[str, Any], attempt: int = 1) -> bytes:
    meta = {"attempt": attempt, "delivered_to": "http://127.0.0.1/webhooks/telnyx"}
    return json.dumps({"data": data, "meta": meta}, separators=(",", ":")).encode()


@dataclass
class Hooks:
    stack: Stack
    key: SigningKey

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.stack.api.send(
            "POST", "/webhooks/telnyx", token=None, content=body, headers=headers
        )

    def deliver(self, data: dict[str, Any], *, timestamp: int | None = None) -> httpx.Response:
        body = envelope(data)
        return self.post(body, signed(self.key, body, timestamp or int(time.time())))

    def entries(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """The recordings stream: (the event's data, the entry's fields), oldest first."""
        rows: Any = self.stack.system.state.xrange(self.stack.recordings_stream)
        return [(json.loads(fields["event"]), fields) for _, fields in rows]

    def entries_of(self, data: dict[str, Any]) -> list[dict[str, str]]:
        return [fields for event, fields in self.entries() if event["id"] == data["id"]]

    def counts(self) -> Counter[tuple[str, ...]]:
        """confrec_webhooks_total by (event_type, result)."""
        return counters(self.stack.api, "confrec_webhooks_total")

    def started_job(self, conference_id: str | None = None) -> dict[str, str]:
        """A job enqueued over HTTP and run by the worker (so it was started)."""
        accepted = self.stack.api.enqueue(
            {"conference_id": conference_id or unique(), "format": "wav"}
        )
        assert self.stack.api.finished(accepted["job_id"])["outcome"]["status"] == "succeeded"
        return accepted


@pytest.fixture(scope="module")
def hooks(redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path) -> Iterator[Hooks]:
    key = SigningKey.generate()
    with running_stack(
        workdir, redis_proc.extra["url"], simulator, TELNYX_PUBLIC_KEY=public_key(key)
    ) as stack:
        stack.system.start_worker(f"hooks-{uuid.uuid4().hex[:6]}", concurrency=4)
        yield Hooks(stack, key)


def test_a_saved_event_is_stored_once_and_shows_in_its_job(hooks: Hooks) -> None:
    job = hooks.started_job()
    before = hooks.counts()
    data = saved_event(job["conference_id"], "mp3")
    body, now = envelope(data), int(time.time())
    first = hooks.post(body, signed(hooks.key, body, now))
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": True, "job_id": job["job_id"]}

    replayed = hooks.post(body, signed(hooks.key, body, now))  # same bytes, same signature
    assert (replayed.status_code, replayed.json()["stored"]) == (200, False)
    retried = envelope(data, attempt=2)  # Telnyx's retry: same data, signed anew, later
    again = hooks.post(retried, signed(hooks.key, retried, now + 2))
    assert (again.status_code, again.json()["stored"]) == (200, False)

    (fields,) = hooks.entries_of(data)
    assert (fields["job_id"], fields["command_id"]) == (job["job_id"], job["command_id"])
    assert json.loads(fields["event"]) == data
    assert hooks.stack.api.status(job["job_id"])["recordings"] == [data]
    assert hooks.counts() - before == Counter({STORED: 1, DUPLICATE: 2})


def tampered(key: SigningKey, body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed(key, body, int(time.time()))
    return body.replace(b'"channels":"single"', b'"channels":"dual"'), headers


def other_key(key: SigningKey, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(SigningKey.generate(), body, int(time.time()))


def stale(key: SigningKey, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(key, body, math.floor(time.time()) - 301)


def future(key: SigningKey, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(key, body, math.ceil(time.time()) + 301)


def old_signature_fresh_timestamp(key: SigningKey, body: bytes) -> tuple[bytes, dict[str, str]]:
    """A captured request replayed with a new timestamp: the signature covers the old one."""
    now = int(time.time())
    return body, {**signed(key, body, now - 400), "telnyx-timestamp": str(now)}


def no_headers(key: SigningKey, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, dict(JSON)


def timestamp_only(key: SigningKey, body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed(key, body, int(time.time()))
    del headers["telnyx-signature-ed25519"]
    return body, headers


def signature_only(key: SigningKey, body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed(key, body, int(time.time()))
    del headers["telnyx-timestamp"]
    return body, headers


def non_numeric_timestamp(key: SigningKey, body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(key, body, "yesterday")


def not_base64(key: SigningKey, body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed(key, body, int(time.time()))
    return body, {**headers, "telnyx-signature-ed25519": "%%not base64%%"}


@pytest.mark.parametrize(
    "forge",
    [
        tampered,
        other_key,
        stale,
        future,
        old_signature_fresh_timestamp,
        no_headers,
        timestamp_only,
        signature_only,
        non_numeric_timestamp,
        not_base64,
    ],
)
def test_an_unverified_webhook_is_refused_and_stores_nothing(
    hooks: Hooks, forge: Callable[[SigningKey, bytes], tuple[bytes, dict[str, str]]]
) -> None:
    data = saved_event(f"weekly sync {uuid.uuid4().hex[:8]}")
    body = envelope(data)
    before, stored = hooks.counts(), len(hooks.entries())
    sent, headers = forge(hooks.key, body)
    (err,) = telnyx_errors(hooks.post(sent, headers), 401)
    assert err["code"] == "10009"
    assert len(hooks.entries()) == stored
    assert hooks.counts() - before == Counter({REJECTED: 1})
    # The refusal marked nothing: the same event, properly signed, is stored now.
    assert hooks.deliver(data).json()["stored"] is True
    assert len(hooks.entries_of(data)) == 1


def test_a_timestamp_within_the_tolerance_either_way_is_accepted(hooks: Hooks) -> None:
    for offset in (-290, 290):
        data = saved_event(f"weekly sync {uuid.uuid4().hex[:8]}")
        answer = hooks.deliver(data, timestamp=int(time.time()) + offset)
        assert (answer.status_code, answer.json()["stored"]) == (200, True), answer.text


def test_a_verified_body_that_is_not_an_event_is_400(hooks: Hooks) -> None:
    stored = len(hooks.entries())
    for body in (b'{"hello": 1}', b'{"data": {"event_type": "x"}}', b"[]", b"{not json"):
        telnyx_errors(hooks.post(body, signed(hooks.key, body, int(time.time()))), 400)
    assert len(hooks.entries()) == stored


def test_another_event_type_is_counted_not_stored(hooks: Hooks) -> None:
    job = hooks.started_job()
    before, stored = hooks.counts(), len(hooks.entries())
    answer = hooks.deliver(saved_event(job["conference_id"], event_type="conference.ended"))
    assert (answer.status_code, answer.json()["stored"]) == (200, False)
    assert len(hooks.entries()) == stored
    assert hooks.stack.api.status(job["job_id"])["recordings"] == []
    assert hooks.counts() - before == Counter({("conference.ended", "ignored"): 1})


def test_a_recording_of_a_conference_no_job_started_is_stored_without_a_job(
    hooks: Hooks, redis_proc: ManagedProcess
) -> None:
    by_name = saved_event(f"weekly sync {uuid.uuid4().hex[:8]}")
    answer = hooks.deliver(by_name)
    assert answer.json() == {"stored": True, "job_id": None}
    (fields,) = hooks.entries_of(by_name)
    assert set(fields) == {"event"}

    # Enqueued (queued in the ledger) but never started by a worker: not its recording.
    idle_queue = f"idle-{uuid.uuid4().hex[:8]}"
    settings = Settings(broker_url=redis_proc.extra["url"], queue=idle_queue)
    queued = create_producer(settings).enqueue(RecordStartJob(conference_id=unique(), format="wav"))
    try:
        answer = hooks.deliver(saved_event(queued.conference_id))
        assert answer.json() == {"stored": True, "job_id": None}
        assert hooks.stack.api.status(queued.job_id)["recordings"] == []
    finally:
        hooks.stack.system.client.delete(idle_queue)


def test_a_recording_belongs_to_the_job_last_started_on_its_conference(hooks: Hooks) -> None:
    conference = unique()
    first = hooks.started_job(conference)
    second = hooks.started_job(conference)
    data = saved_event(conference)
    assert hooks.deliver(data).json() == {"stored": True, "job_id": second["job_id"]}
    assert hooks.stack.api.status(first["job_id"])["recordings"] == []
    assert hooks.stack.api.status(second["job_id"])["recordings"] == [data]


def test_events_delivered_out_of_order_are_both_stored(hooks: Hooks) -> None:
    job = hooks.started_job()
    now = time.time()
    earlier = saved_event(job["conference_id"], at=now - 60)
    later = saved_event(job["conference_id"], "mp3", at=now)
    before = hooks.counts()
    for data in (later, earlier):  # the later recording's event arrives first
        assert hooks.deliver(data).json() == {"stored": True, "job_id": job["job_id"]}
    assert hooks.stack.api.status(job["job_id"])["recordings"] == [later, earlier]
    for data in (earlier, later):
        (fields,) = hooks.entries_of(data)
        assert fields["job_id"] == job["job_id"]
    assert hooks.counts() - before == Counter({STORED: 2})


# 8. the simulator's own webhooks, end to end


def test_the_simulators_webhooks_reach_each_jobs_status_once(
    redis_proc: ManagedProcess, workdir: Path, tmp_path: Path
) -> None:
    seed = os.urandom(32)
    key = SigningKey(seed)
    port = free_port()
    sim = start_simulator(
        tmp_path / "simulator",
        api_key=API_KEY,
        latency_ms=5,
        extra_args=[
            "--signing-key",
            base64.b64encode(seed).decode(),
            "--recording-seconds",
            "0.2",
            "--webhook-url",
            f"http://127.0.0.1:{port}/webhooks/telnyx",
        ],
    )
    try:
        root = sim.extra["root"]
        assert httpx.get(f"{root}/_sim/public-key").json() == {"public_key": public_key(key)}
        with running_stack(
            workdir, redis_proc.extra["url"], sim, port=port, TELNYX_PUBLIC_KEY=public_key(key)
        ) as stack:
            stack.system.start_worker(f"e2e-{uuid.uuid4().hex[:6]}", concurrency=4)
            hooks = Hooks(stack, key)
            prefixes = ["", "", "", "dupsaved-", "latesaved-300-"]
            asked = [
                {"conference_id": unique(prefix), "format": ("wav", "mp3")[i % 2]}
                for i, prefix in enumerate(prefixes)
            ]
            jobs = [{**stack.api.enqueue(job), "format": job["format"]} for job in asked]
            for job in jobs:
                recorded_once(stack, job)

            webhooks = poll(
                lambda: httpx.get(f"{root}/_sim/stats", params={"conferences": "0"}).json()[
                    "webhooks"
                ],
                lambda w: w["pending"] == 0,
                30,
                "the simulator's webhooks delivered",
            )
            assert webhooks == {"sent": 6, "attempts": 6, "failed": 0, "pending": 0}
            deliveries = httpx.get(f"{root}/_sim/webhooks").json()
            dup = [d for d in deliveries if d["conference_id"] == asked[3]["conference_id"]]
            assert len(dup) == 2 and dup[0]["id"] == dup[1]["id"]
            assert all(d["result"] == "sent" for d in dup)

            entries = hooks.entries()
            assert len(entries) == 5
            assert sorted(fields["job_id"] for _, fields in entries) == sorted(
                j["job_id"] for j in jobs
            )
            for job in jobs:  # the duplicate arrived by now, and was not added
                assert len(stack.api.status(job["job_id"])["recordings"]) == 1
            assert hooks.counts() == Counter({STORED: 5, DUPLICATE: 1})
    finally:
        sim.stop()


def recorded_once(stack: Stack, job: dict[str, str]) -> None:
    """Wait until the job finished and holds its recording: exactly one, of its
    conference, in its format."""
    doc = poll(
        lambda: stack.api.status(job["job_id"]),
        lambda d: d["state"] == "finished" and bool(d["recordings"]),
        30,
        f"job {job['job_id']} finished with a recording",
    )
    assert doc["outcome"]["status"] == "succeeded"
    (recording,) = doc["recordings"]
    assert recording["event_type"] == SAVED
    assert recording["payload"]["conference_id"] == job["conference_id"]
    assert job["format"] in recording["payload"]["recording_urls"]


def test_no_secret_in_the_webhook_serves_logs_or_bodies(hooks: Hooks) -> None:
    hooks.stack.api.send("GET", "/v1/jobs/x", token=WRONG_TOKEN)
    assert_no_secret_anywhere()
