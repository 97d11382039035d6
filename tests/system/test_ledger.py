"""JobLedger.record on a real Redis: what status queries read, at each stage of a job."""

from __future__ import annotations

import uuid

from confrec.tasks.job import Outcome
from confrec.tasks.ledger import JobLedger, JobRecord
from confrec.worker.clients import redis_client
from confrec.worker.localstack import ManagedProcess


def test_record_follows_a_job_from_queued_to_its_outcome(redis_proc: ManagedProcess) -> None:
    client = redis_client(redis_proc.extra["url"])
    stream = f"ledger-{uuid.uuid4().hex[:8]}"
    ledger = JobLedger(client, stream, ttl_s=60)
    job_id = uuid.uuid4().hex
    assert ledger.record(job_id) == JobRecord(0, 0, finished=False, outcome=None)

    assert ledger.begin(job_id, "conf-1", "cmd-1") is not None
    assert ledger.record(job_id) == JobRecord(1, 0, finished=False, outcome=None)

    outcome = Outcome(
        job_id=job_id, conference_id="conf-1", command_id="cmd-1", status="succeeded",
        reason="ok", http_status=200, attempts=1,
    )  # fmt: skip
    assert ledger.publish(outcome) is not None
    assert ledger.publish(outcome) is None  # once per job
    assert ledger.record(job_id) == JobRecord(1, 0, finished=True, outcome=outcome)

    client.delete(stream)  # trimmed away: still finished, the outcome no longer readable
    assert ledger.record(job_id) == JobRecord(1, 0, finished=True, outcome=None)
