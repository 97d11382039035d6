"""JobLedger.record on a real Redis: what status queries read, at each stage of a job."""

from __future__ import annotations

import logging
import uuid

import pytest

from confrec.tasks.job import Outcome, RecordStartJob
from confrec.tasks.store import keys
from confrec.tasks.store.job_record import JobRecord
from confrec.tasks.store.ledger import Delivery, JobLedger
from confrec.tasks.store.throttle import GO, PAUSED, FleetThrottle
from confrec.worker.broker.clients import redis_client
from confrec.worker.local.processes import ManagedProcess


def test_record_follows_a_job_from_queued_to_its_outcome(redis_proc: ManagedProcess) -> None:
    client = redis_client(redis_proc.extra["url"])
    stream = f"ledger-{uuid.uuid4().hex[:8]}"
    ledger = JobLedger(client, stream, ttl_s=60)
    job_id = uuid.uuid4().hex
    assert ledger.record(job_id) is None

    job = RecordStartJob(conference_id="conf 1/é", format="wav", command_id="cmd-1")
    ledger.enqueued([(job_id, job)], "2026-12-01T00:00:00+00:00")
    queued = ledger.record(job_id)
    assert queued == JobRecord(
        "conf 1/é", "cmd-1", "2026-12-01T00:00:00+00:00", 0, 0, finished=False, outcome=None
    )
    assert queued.state == "queued"

    assert ledger.begin(job_id, "conf 1/é", "cmd-1") is not None
    running = ledger.record(job_id)
    assert running is not None and running.deliveries == 1 and running.state == "running"
    # The first delivery records the job's conference and command.
    assert client.hget(keys.job_state(job_id), "command_id") == "cmd-1"

    outcome = Outcome(
        job_id=job_id, conference_id="conf 1/é", command_id="cmd-1", status="succeeded",
        reason="ok", http_status=200, attempts=1,
    )  # fmt: skip
    assert ledger.publish(outcome) is not None
    assert ledger.publish(outcome) is None  # once per job
    finished = ledger.record(job_id)
    assert finished is not None and finished.state == "finished"
    assert finished.outcome == outcome

    client.delete(stream)  # trimmed away: still finished, the outcome no longer readable
    trimmed = ledger.record(job_id)
    assert trimmed is not None and trimmed.finished and trimmed.outcome is None


def test_a_job_sent_by_another_service_is_known_from_its_first_delivery(
    redis_proc: ManagedProcess,
) -> None:
    ledger = JobLedger(redis_client(redis_proc.extra["url"]), "s", ttl_s=60)
    job_id = uuid.uuid4().hex
    assert ledger.record(job_id) is None  # send_task wrote nothing of ours
    assert ledger.begin(job_id, "conf-2", "cmd-2") is not None
    record = ledger.record(job_id)
    assert record is not None
    assert (record.conference_id, record.command_id, record.enqueued_at) == (
        "conf-2",
        "cmd-2",
        None,
    )


def test_with_replicas_to_wait_for_an_outcome_waits_boundedly_and_is_still_published(
    redis_proc: ManagedProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """The replica wait is best effort: this Redis has no replica, so WAIT gives up after
    its bound, the outcome stands, and the shortfall is a warning naming the job."""
    client = redis_client(redis_proc.extra["url"])
    ledger = JobLedger(client, f"ledger-{uuid.uuid4().hex[:8]}", replicas=1, replica_wait_ms=50)
    job_id = uuid.uuid4().hex
    outcome = Outcome(
        job_id=job_id, conference_id="c", command_id="x", status="succeeded", reason="ok"
    )
    with caplog.at_level(logging.WARNING, logger="confrec.tasks.store.ledger"):
        assert ledger.publish(outcome) is not None
    assert f"job {job_id}: its outcome reached 0 of 1 replicas within 50 ms" in caplog.text
    assert ledger.publish(outcome) is None  # still exactly one


def test_begin_takes_the_first_attempts_token_in_its_own_round_trip(
    redis_proc: ManagedProcess,
) -> None:
    """The first attempt is recorded (and counted against the fleet limit) by ``begin``
    itself, unless that delivery will not send: its command already succeeded, or it is
    past the delivery limit. A paused fleet records nothing and says how long to wait."""
    client = redis_client(redis_proc.extra["url"])
    ledger = JobLedger(client, f"ledger-{uuid.uuid4().hex[:8]}", ttl_s=60)
    throttle = FleetThrottle(client, rate=None)

    def begin(job_id: str, command: str = "cmd", limit: int | None = None) -> Delivery | None:
        take = throttle.request(job_id, None)
        return ledger.begin(job_id, "conf-t", command, take=take, delivery_limit=limit)

    def attempts(job_id: str) -> int:
        record = ledger.record(job_id)
        return record.attempts if record else -1

    sent = uuid.uuid4().hex
    first = begin(sent)
    assert first is not None and first.taken == (GO, 0) and first.attempts_before == 0
    assert attempts(sent) == 1
    again = begin(sent)  # a redelivery: the earlier attempt is history, this one is taken
    assert again is not None and (again.attempts_before, again.taken) == (1, (GO, 0))
    assert attempts(sent) == 2

    past = uuid.uuid4().hex
    assert begin(past, limit=0) is not None and attempts(past) == 1
    beyond = begin(past, limit=0)  # delivery 2 of a job allowed 0 redeliveries: not sent
    assert beyond is not None and beyond.taken is None and attempts(past) == 1

    done = uuid.uuid4().hex
    client.set(keys.command_succeeded("conf-t", "cmd-done"), "another-job")
    duplicate = begin(done, "cmd-done")
    assert duplicate is not None and duplicate.succeeded_as == "another-job"
    assert duplicate.taken is None and attempts(done) == 0

    paused = uuid.uuid4().hex
    throttle.pause_fleet(2.0)
    try:
        held = begin(paused)
        assert held is not None and held.taken is not None
        code, wait_ms = held.taken
        assert code == PAUSED and 0 < wait_ms <= 2000 and attempts(paused) == 0
    finally:
        client.delete(keys.FLEET_PAUSE)
