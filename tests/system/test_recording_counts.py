"""A batch's recording counts on the real way back: a private Redis, serve verifying the
signed webhooks of ``confrec simulate``, a real worker (its reconciler thread resolving
names, listing ended conferences past a 1 s grace, and draining the recording-state
marks). Each batch job's counted state is what ``GET /v1/jobs/{id}`` computes from the
facts — pending, then saved or not_saved; a re-sent job that sent nothing follows its
original — every change is on the recording-states stream, and a fact written with its
count skipped (as when serve dies right after storing a webhook) is counted by the
worker's drain."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import redis

from confrec.tasks.job import RecordStartJob
from confrec.tasks.recording import from_webhook
from confrec.tasks.recording_counts import RecordingCounts
from confrec.tasks.store import keys
from confrec.tasks.store.batches import RECORDING_STATES, BatchStore
from confrec.tasks.store.conferences import ConferenceStore
from confrec.tasks.store.ledger import JobLedger
from confrec.tasks.store.recording_counts import Counted, RecordingCountStore
from confrec.worker.local.processes import start_redis
from confrec.worker.producing import create_conferences
from tests.support.reconciling import iso, publish_started, saved_payload
from tests.support.recordings import Way, webhook_way
from tests.support.system import unique, unique_id
from tests.support.waiting import poll, wait_until

LABELS = {"meeting": "4711"}
FORMATS: tuple[Literal["wav", "mp3"], ...] = ("wav", "mp3", "wav")


@pytest.fixture
def way(tmp_path: Path) -> Iterator[Way]:
    """A Redis of its own: this fleet's grace and polls are not the other fleets'."""
    redis = start_redis(tmp_path / "redis")
    try:
        with webhook_way(
            tmp_path,
            redis.extra["url"],
            CONFREC_RECORDING_GRACE_S="1",
            CONFREC_RECONCILE_POLL_S="0.5",
        ) as running:
            yield running
    finally:
        redis.stop()


def bulk(way: Way, conferences: list[str], batch_key: str) -> tuple[str, list[str]]:
    """``POST /v1/jobs/bulk``: the batch and its job ids, in order."""
    jobs = [{"conference_id": c, "format": "wav", "labels": LABELS} for c in conferences]
    path = f"/v1/jobs/bulk?batch_key={batch_key}"
    response = way.stack.api.send("POST", path, body=jobs)
    assert response.status_code == 202, response.text
    doc = response.json()
    return doc["batch"], [job["job_id"] for job in doc["jobs"]]


def counts(way: Way, batch: str) -> dict[str, int]:
    summary = BatchStore(way.stack.system.state).summary(batch)
    assert summary is not None
    recordings: dict[str, int] = summary.as_dict()["recordings"]
    return recordings


def settled_counts(way: Way, batch: str, want: dict[str, int], timeout: float) -> None:
    """The batch counts ``want`` (the other states 0) within ``timeout``."""
    expected = {state: want.get(state, 0) for state in RECORDING_STATES}
    poll(lambda: counts(way, batch), expected.__eq__, timeout, f"batch {batch}: {want}")


def assert_counted_as_computed(way: Way, batch: str) -> None:
    """No drift: each job sits in the list of the state its status computes from the
    facts, and the counts are those lists' sizes."""
    store = BatchStore(way.stack.system.state)
    shown: Counter[str] = Counter()
    for job_id in store.jobs(batch, limit=500).items:
        state = way.status(job_id)["recording_state"]
        shown[state] += 1
        assert job_id in store.jobs(batch, state, limit=500).items, (job_id, state)
    assert counts(way, batch) == {s: shown.get(s, 0) for s in RECORDING_STATES}


def state_events(way: Way, batch: str) -> list[dict[str, str]]:
    rows: Any = way.stack.system.state.xrange(keys.RECORDING_STATES)
    return [fields for _, fields in rows if fields["batch"] == batch]


def test_a_batch_counts_its_recordings_pending_then_saved_or_not_saved(way: Way) -> None:
    saved, lost, later = unique_id(), unique("unsaved-1-endafter-2-"), unique("unsaved-1-")
    batch, (j_saved, j_lost, j_later) = bulk(way, [saved, lost, later], "nightly")
    for job_id in (j_saved, j_lost, j_later):
        way.started(job_id)
    # Outcomes in: two conferences have nothing to tell for seconds yet.
    first = counts(way, batch)
    assert first["pending"] >= 2 and first["pending"] + first["saved"] == 3, first

    # The webhook's recording (serve counts it), the lost one after the conference ended
    # and the grace passed (the reconciler's final list, then its drain).
    settled_counts(way, batch, {"saved": 1, "not_saved": 1, "pending": 1}, 30)
    assert_counted_as_computed(way, batch)
    events = {e["job_id"]: e for e in state_events(way, batch)}
    assert set(events) == {j_saved, j_lost}
    assert (events[j_saved]["state"], events[j_lost]["state"]) == ("saved", "not_saved")
    assert events[j_lost]["reason"].startswith("Telnyx listed no recording for it")
    assert json.loads(events[j_saved]["labels"]) == LABELS
    assert events[j_saved]["conference_id"] == saved and events[j_saved]["principal"]

    # The same bulk again with its key: the re-sent jobs sent nothing, and each follows
    # its original's state in the new batch (counted by the worker's drain).
    again, resent = bulk(way, [saved, lost, later], "nightly")
    for job_id in resent:
        assert way.started(job_id)["outcome"]["duplicate_of"]
    settled_counts(way, again, {"saved": 1, "not_saved": 1, "pending": 1}, 15)
    assert_counted_as_computed(way, again)

    # A recording stored as serve stores a webhook, its count skipped (serve died right
    # after): the mark it left is the worker's drain's work, for both batches.
    resolved: Any = poll(
        lambda: way.stack.system.state.hmget(
            keys.job_state(j_later), ["name_state", "resolved_id", "answered_at", "offset"]
        ),
        lambda got: got[0] == "resolved",
        15,
        f"job {j_later}'s conference name resolved",
    )
    conference_id, at = resolved[1], float(resolved[2]) + float(resolved[3])
    settings, state = way.stack.system.settings, way.stack.system.state
    stored = create_conferences(settings, state).store_recording(
        from_webhook(saved_payload(conference_id, str(uuid.uuid4()), at))
    )
    assert stored is not None and stored.job_id == j_later
    settled_counts(way, batch, {"saved": 2, "not_saved": 1}, 10)
    settled_counts(way, again, {"saved": 2, "not_saved": 1}, 10)
    wait_until(
        lambda: not state.sismember(keys.RECORDING_DIRTY, keys.dirty_conference(conference_id)),
        5,
        "the conference's mark counted",
    )
    assert_counted_as_computed(way, batch)
    assert_counted_as_computed(way, again)
    assert [e["state"] for e in state_events(way, batch) if e["job_id"] == j_later] == ["saved"]


def test_a_count_computed_before_a_fact_landed_is_refused(client: redis.Redis) -> None:
    """On a real Redis, the steps themselves: a job alone on a quiet conference marks
    nothing (the worker's publish writes no more than before), a second job joining it
    marks it; a recording stored marks it; a count read before that is refused and the
    mark stays; counted again it lands, once, on the stream too."""
    tag = uuid.uuid4().hex[:8]
    ledger = JobLedger(client, f"results-{tag}", ttl_s=600)
    conferences = ConferenceStore(client, f"recordings-{tag}", ttl_s=600)
    store = RecordingCountStore(client, ttl_s=600, stream=f"states-{tag}")
    counter = RecordingCounts(ledger, conferences, store)
    conference, batch = unique_id(), str(uuid.uuid4())
    jobs = [
        (
            f"job-{tag}-{fmt}{i}",
            RecordStartJob(conference_id=conference, format=fmt, command_id=str(uuid.uuid4())),
        )
        for i, fmt in enumerate(FORMATS)
    ]
    ledger.enqueued(jobs, iso(time.time()), "", batch)
    member = keys.dirty_conference(conference)

    def publish(job_id: str, job: RecordStartJob) -> None:
        publish_started(ledger, job_id, job, poll_at=time.time() + 60, skew_s=1.0)

    def recordings() -> tuple[int, int]:
        summary = BatchStore(client).summary(batch)
        assert summary is not None
        found: dict[str, int] = summary.as_dict()["recordings"]
        return found["pending"], found["saved"]

    def marked() -> bool:
        return bool(client.sismember(keys.RECORDING_DIRTY, member))

    (first, first_job), (mp3, mp3_job), (last, last_job) = jobs
    publish(first, first_job)
    assert not marked()
    publish(mp3, mp3_job)
    assert marked() and counter.refresh(member) and not marked()
    assert recordings() == (2, 0)

    versions, _ = store.read_conference(conference)
    payload = saved_payload(conference, str(uuid.uuid4()), time.time())  # a wav recording
    assert conferences.store_recording(from_webhook(payload)) is not None
    assert marked()
    assert store.apply(member, versions, [Counted(first, conference, "saved", "")]) is None
    assert recordings() == (2, 0) and marked()
    assert counter.refresh_conference(conference) and not marked()
    assert recordings() == (1, 1)
    assert counter.refresh(member) and recordings() == (1, 1)  # counted once
    assert states(client, f"states-{tag}") == ["saved"]

    # Another wav job whose window holds that recording too: until the conference is
    # final neither is sure of it, and the first is counted back to pending.
    publish(last, last_job)
    assert marked() and counter.refresh(member)
    assert recordings() == (3, 0)
    assert states(client, f"states-{tag}") == ["saved", "pending"]


def states(client: redis.Redis, stream: str) -> list[str]:
    rows: Any = client.xrange(stream)
    return [fields["state"] for _, fields in rows]
