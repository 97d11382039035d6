"""``POST /webhooks/telnyx`` on a real ``confrec serve``: Ed25519 signatures made here with a
key of the test's own, recordings stored once per ``recording_id`` (conference ends once
per conference) and matched to the job a real worker started on the conference, by when
recording began.

The module's serve and worker (``hooks``) are started once for all of these; the
simulator's own signed webhooks, end to end: test_webhooks_from_the_simulator.py. The
secrets check comes last and reads every serve's log and body so far, that module's too
(it sorts first)."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from confrec.config.settings import Settings
from confrec.tasks.job import RecordStartJob
from confrec.worker.local.processes import ManagedProcess
from confrec.worker.producing import create_producer
from tests.support.hooks import (
    DUPLICATE,
    ENDED,
    STORED,
    Hooks,
    ended_event,
    envelope,
    public_key,
    saved_event,
    shown,
    signed,
)
from tests.support.recordings import past_its_second
from tests.support.serve import (
    JSON,
    OPERATOR_TOKEN,
    WRONG_TOKEN,
    assert_no_secret_anywhere,
    running_stack,
    telnyx_errors,
)
from tests.support.system import unique, unique_id

REJECTED = ("unverified", "rejected")


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
    data = saved_event(job["conference_id"], started_at=job["finished_at"])
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
    status = hooks.stack.api.status(job["job_id"])
    assert (status["recording_state"], status["recordings"]) == ("saved", [shown(data)])
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


def test_a_verified_event_without_the_ids_it_needs_is_200_counted_not_stored(
    hooks: Hooks,
) -> None:
    """Telnyx would only retry a non-2xx, then fail over: a verified event is answered."""
    stored, before = len(hooks.entries()), hooks.counts()
    saved = saved_event("c") | {"payload": {"conference_id": "c"}}  # no recording_id
    ended = ended_event("c") | {"payload": {"reason": "all_left"}}  # no conference_id
    for data in (saved, ended, saved_event("c") | {"payload": None}):
        answer = hooks.deliver(data)
        assert (answer.status_code, answer.json()["stored"]) == (200, False), answer.text
        assert answer.json()["reason"].startswith("payload: ")
    assert len(hooks.entries()) == stored
    counted = hooks.counts() - before
    saved_type = "conference.recording.saved"
    assert counted == Counter({(saved_type, "invalid"): 2, ("conference.ended", "invalid"): 1})


def test_another_event_type_is_counted_not_stored(hooks: Hooks) -> None:
    job = hooks.started_job()
    before, stored = hooks.counts(), len(hooks.entries())
    event_type = "conference.participant.joined"
    answer = hooks.deliver(saved_event(job["conference_id"], event_type=event_type))
    assert (answer.status_code, answer.json()["stored"]) == (200, False)
    assert len(hooks.entries()) == stored
    status = hooks.stack.api.status(job["job_id"])
    assert (status["recording_state"], status["recordings"]) == ("pending", [])
    assert hooks.counts() - before == Counter({(event_type, "ignored"): 1})


def test_a_conference_end_is_stored_once_per_conference(hooks: Hooks) -> None:
    job = hooks.started_job()
    assert hooks.stack.api.status(job["job_id"])["recording_reason"] == "conference in progress"
    before = hooks.counts()
    first, other = ended_event(job["conference_id"]), ended_event(job["conference_id"])
    assert hooks.deliver(first).json() == {"stored": True}
    for data in (first, other):  # Telnyx's retry, and another event of the same end
        assert hooks.deliver(data).json() == {"stored": False}
    status = hooks.stack.api.status(job["job_id"])
    assert (status["recording_state"], status["recording_reason"]) == (
        "pending",
        "conference ended; waiting for Telnyx to save",
    )
    assert hooks.counts() - before == Counter({(ENDED, "stored"): 1, (ENDED, "duplicate"): 2})


def test_a_recording_of_a_conference_no_job_started_is_stored_without_a_job(
    hooks: Hooks, redis_proc: ManagedProcess
) -> None:
    by_name = saved_event(f"weekly sync {uuid.uuid4().hex[:8]}")
    answer = hooks.deliver(by_name)
    assert answer.json() == {"stored": True, "job_id": None}
    (fields,) = hooks.entries_of(by_name)
    assert set(fields) == {"event", "recording", "recording_id", "conference_id", "source"}
    assert (fields["recording_id"], fields["source"]) == (
        by_name["payload"]["recording_id"],
        "webhook",
    )

    # Enqueued (queued in the ledger) but never started by a worker: not its recording.
    idle_queue = f"idle-{uuid.uuid4().hex[:8]}"
    settings = Settings(broker_url=redis_proc.extra["url"], queue=idle_queue)
    queued = create_producer(settings).enqueue(RecordStartJob(conference_id=unique(), format="wav"))
    try:
        answer = hooks.deliver(saved_event(queued.conference_id))
        assert answer.json() == {"stored": True, "job_id": None}
        status = hooks.stack.api.status(queued.job_id, OPERATOR_TOKEN)  # the CLI's job
        assert (status["recording_state"], status["recordings"]) == (None, [])
    finally:
        hooks.stack.system.client.delete(idle_queue)


def test_a_recording_begun_outside_every_start_window_was_not_started_by_confrec(
    hooks: Hooks,
) -> None:
    job = hooks.started_job()
    hour_ago = datetime.fromtimestamp(time.time() - 3600, UTC).isoformat()
    data = saved_event(job["conference_id"], started_at=hour_ago)
    assert hooks.deliver(data).json() == {"stored": True, "job_id": None}
    status = hooks.stack.api.status(job["job_id"])
    assert (status["recording_state"], status["recordings"]) == ("pending", [])
    assert status["other_recordings"] == [shown(data) | {"match": "not_started_by_confrec"}]


def test_two_jobs_recordings_delivered_out_of_order_each_land_on_their_job(
    hooks: Hooks,
) -> None:
    conference = unique_id()
    first = hooks.started_job(conference)
    past_its_second({"outcome": first})  # back to back: test_recordings_matching.py
    second = hooks.started_job(conference)
    earlier = saved_event(conference, started_at=first["finished_at"])
    later = saved_event(conference, started_at=second["finished_at"])
    before = hooks.counts()
    assert hooks.deliver(later).json()["stored"] is True  # the later recording's event first
    assert hooks.deliver(earlier).json() == {"stored": True, "job_id": first["job_id"]}
    for job, data in ((first, earlier), (second, later)):
        status = hooks.stack.api.status(job["job_id"])
        assert (status["recording_state"], status["recordings"]) == ("saved", [shown(data)])
        assert status["other_recordings"] == []
    assert hooks.counts() - before == Counter({STORED: 2})


def test_no_secret_in_the_webhook_serves_logs_or_bodies(hooks: Hooks) -> None:
    hooks.stack.api.send("GET", "/v1/jobs/x", token=WRONG_TOKEN)
    assert_no_secret_anywhere()
