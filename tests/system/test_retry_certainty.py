"""Whether each attempt certainly started nothing, recorded by the worker's own steps on a
real Redis against the simulator (and a port nobody listens on), and judged by the retry
rules; and the claim that keeps a job from being retried twice."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from pydantic import SecretStr

from confrec.config.settings import Settings
from confrec.tasks.job import Outcome, RecordStartJob
from confrec.tasks.policy import RetryPolicy
from confrec.tasks.publishing.producer import Producer
from confrec.tasks.record_start import RecordStartHandler
from confrec.tasks.retry_rules import ATTEMPT_UNCERTAIN, why_not
from confrec.tasks.store.batches import BatchStore
from confrec.tasks.store.ledger import JobLedger
from confrec.tasks.store.retry_reads import FailedJob, RetryReads
from confrec.tasks.store.throttle import FleetThrottle
from confrec.tasks.telnyx import TelnyxClient
from confrec.worker.app import create_app
from confrec.worker.local.processes import ManagedProcess, free_port
from tests.support.system import API_KEY

POLICY = RetryPolicy(max_attempts=3, deadline_s=10, backoff_initial_s=0.01, backoff_max_s=0.05)


def _handler(client: redis.Redis, ledger: JobLedger, base_url: str) -> RecordStartHandler:
    telnyx = TelnyxClient(base_url, SecretStr(API_KEY), timeout=2, connect_timeout=1)
    return RecordStartHandler(telnyx, ledger, FleetThrottle(client, rate=None), POLICY)


def _enqueued(ledger: JobLedger, batch: str, conferences: list[str]) -> list[str]:
    jobs = [
        (uuid.uuid4().hex, RecordStartJob(conference_id=c, format="mp3", command_id=f"cmd-{c}"))
        for c in conferences
    ]
    ledger.enqueued(jobs, "2026-12-08T10:00:00+00:00", "alice", batch)
    return [job_id for job_id, _ in jobs]


def _run(handler: RecordStartHandler, job_id: str, conference: str) -> Outcome:
    kwargs = {"conference_id": conference, "format": "mp3", "command_id": f"cmd-{conference}"}
    outcome = handler.handle(job_id, kwargs)
    assert outcome is not None and outcome.reason == "retries_exhausted", outcome
    return outcome


def _read(client: redis.Redis, job_id: str) -> FailedJob:
    return RetryReads(client).failed([job_id], "retries_exhausted")[0]


def test_only_answers_before_telnyx_acts_leave_a_job_certain(
    client: redis.Redis, simulator: ManagedProcess
) -> None:
    ledger = JobLedger(client, f"results-{uuid.uuid4().hex[:8]}", ttl_s=600)
    tag = uuid.uuid4().hex[:8]
    certain = [f"flaky-9-{tag}", f"ratelimited-1-flaky-9-{tag}"]  # 503s; a 429, then 503s
    uncertain = [f"timeout408-9-{tag}", f"flaky-1-drop-9-{tag}"]  # a 408; a 503, then a cut
    refused, died = f"refused-{tag}", f"died-{tag}"
    names = [*certain, *uncertain, refused, died]
    ids = dict(zip(names, _enqueued(ledger, uuid.uuid4().hex, names), strict=True))

    sim = _handler(client, ledger, simulator.extra["base_url"])
    nobody = _handler(client, ledger, f"http://127.0.0.1:{free_port()}/v2")
    runs = [(sim, c) for c in certain + uncertain] + [(nobody, refused)]
    with ThreadPoolExecutor(len(runs)) as pool:  # as a worker's threads run them
        outcomes = list(pool.map(lambda run: _run(run[0], ids[run[1]], run[1]), runs))
    assert [o.attempts for o in outcomes] == [3] * len(runs)
    assert outcomes[-1].detail == "ConnectError"
    # A delivery that sent its attempt and died: the attempt is recorded, its answer never
    # is; the fault handler's outcome then carries no certainty.
    throttle = FleetThrottle(client, rate=None)
    ledger.begin(ids[died], died, f"cmd-{died}", take=throttle.request(ids[died], None))
    ledger.publish(
        Outcome(
            job_id=ids[died],
            conference_id=died,
            command_id=f"cmd-{died}",
            status="failed",
            reason="retries_exhausted",
            attempts=1,
            detail="WorkerLostError",
        )
    )

    for conference in [*certain, refused]:
        found = _read(client, ids[conference])
        assert found.facts is not None and found.facts.attempts == 3, conference
        assert found.facts.nothing_started == 3, conference
        assert why_not(found.facts) is None, conference
        assert found.job == RecordStartJob(
            conference_id=conference, format="mp3", command_id=f"cmd-{conference}"
        )
    for conference in [*uncertain, died]:
        found = _read(client, ids[conference])
        assert why_not(found.facts) == ATTEMPT_UNCERTAIN, conference


def _producer(redis_url: str, ledger: JobLedger, queue: str) -> Producer:
    settings = Settings.model_validate({"broker_url": redis_url, "queue": queue})
    return Producer(create_app(settings), queue, ledger=ledger)


def _messages(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]


def test_a_job_is_retried_once_whoever_retries_it(client: redis.Redis, own_redis_url: str) -> None:
    ledger = JobLedger(client, f"results-{uuid.uuid4().hex[:8]}", ttl_s=600)
    queue = f"retry-queue-{uuid.uuid4().hex[:8]}"
    producer = _producer(own_redis_url, ledger, queue)
    old_batch = uuid.uuid4().hex
    originals = _enqueued(ledger, old_batch, ["conf-a", "conf-b", "conf-c"])
    client.delete(f"confrec:job:{originals[2]}")  # its state expired: nothing to claim
    client.delete(queue)
    retries = [
        (job_id, RecordStartJob(conference_id=c, format="mp3", command_id=f"cmd-{c}"))
        for job_id, c in zip(originals, ["conf-a", "conf-b", "conf-c"], strict=True)
    ]

    first = producer.enqueue_retries(retries[:1], batch="r1", retry_of_batch=old_batch)
    both = producer.enqueue_retries(retries, batch="r2", retry_of_batch=old_batch)
    again = producer.enqueue_retries(retries, batch="r3", retry_of_batch=old_batch)

    assert set(first) == {originals[0]} and set(both) == {originals[1]} and again == {}
    sent = _messages(client, queue)
    assert len(sent) == 2  # one message per job claimed, none for a refused one
    marks = {m["headers"]["confrec_retry_of"]: m["headers"]["id"] for m in sent}
    assert marks == {
        originals[0]: first[originals[0]].job_id,
        originals[1]: both[originals[1]].job_id,
    }
    assert all(m["headers"]["confrec_batch"] in ("r1", "r2") for m in sent)
    store = BatchStore(client)
    old, r1, r2 = store.summary(old_batch), store.summary("r1"), store.summary("r2")
    assert old is not None and old.as_dict()["retries"] == ["r1", "r2"]
    assert r1 is not None and r1.as_dict()["retry_of"] == old_batch and r1.total == 1
    assert r2 is not None and r2.total == 1 and store.summary("r3") is None
    for original, new in [(originals[0], first[originals[0]]), (originals[1], both[originals[1]])]:
        record = ledger.record(new.job_id)
        assert record is not None and record.retry_of == original
        assert record.command_id == f"cmd-{'conf-a' if original == originals[0] else 'conf-b'}"
        old_record = ledger.record(original)
        assert old_record is not None and old_record.retried_as == new.job_id
