"""A batch's counts and lists on a real Redis, driven through the ledger's own steps:
each count moves in the step that records what it counts, once, whatever is repeated."""

from __future__ import annotations

import uuid
from typing import Any

import redis

from confrec.tasks.job import Outcome, RecordStartJob
from confrec.tasks.store.batches import BatchStore
from confrec.tasks.store.ledger import JobLedger


def _jobs(n: int) -> list[tuple[str, RecordStartJob]]:
    return [
        (
            uuid.uuid4().hex,
            RecordStartJob(
                conference_id=f"conf-{i}",
                format="wav",
                command_id=f"c{i}",
                labels={"meeting": str(i)},
            ),
        )
        for i in range(n)
    ]


def _outcome(job_id: str, job: RecordStartJob, **fields: Any) -> Outcome:
    base = {"status": "succeeded", "reason": "ok"} | fields
    return Outcome.model_validate(
        {"job_id": job_id, "conference_id": job.conference_id, "command_id": job.command_id} | base
    )


def test_counts_move_with_each_step_once(client: redis.Redis) -> None:
    ledger = JobLedger(client, f"results-{uuid.uuid4().hex[:8]}", ttl_s=600)
    store = BatchStore(client)
    batch = uuid.uuid4().hex
    jobs = _jobs(5)
    ledger.enqueued(jobs[:3], "2026-12-07T09:00:00+00:00", "alice", batch, "key-1")
    ledger.enqueued(jobs[3:], "2026-12-07T09:00:01+00:00", "alice", batch, "key-1")
    first = store.summary(batch)
    assert first is not None and first.total == 5 and first.principal == "alice"
    assert first.counts["queued"] == 5 and first.batch_key == "key-1"

    for job_id, job in jobs[:4]:
        assert ledger.begin(job_id, job.conference_id, job.command_id or "") is not None
    ledger.begin(jobs[0][0], jobs[0][1].conference_id, "c0")  # a redelivery: still one running
    (a, ja), (b, jb), (c, jc), (d, _), (e, je) = jobs
    ledger.publish(_outcome(a, ja))
    ledger.publish(_outcome(a, ja))  # a second publish is refused, and counts nothing
    ledger.publish(_outcome(b, jb, status="failed", reason="rejected", http_status=422))
    ledger.publish(_outcome(c, jc, duplicate_of=a))
    ledger.publish(_outcome(e, je, status="failed", reason="invalid"))  # never began

    summary = store.summary(batch)
    assert summary is not None
    doc = summary.as_dict()
    assert doc["states"] == {"queued": 0, "running": 1, "finished": 4}
    assert doc["statuses"] == {"succeeded": 2, "failed": 2}
    assert doc["reasons"] == {"ok": 2, "rejected": 1, "retries_exhausted": 0, "invalid": 1}
    assert doc["already_done"] == 1 and doc["recordings"]["pending"] == 2
    assert summary.in_flight

    assert store.jobs(batch, "failed").items == [b, e]
    assert store.jobs(batch, "running").items == [d]
    assert store.jobs(batch, label=("meeting", "3")).items == [d]
    first_page = store.jobs(batch, limit=2)
    assert first_page.items == [a, b] and first_page.cursor is not None
    rest = store.jobs(batch, limit=2, cursor=first_page.cursor)
    assert rest.items == [c, d]
    assert store.jobs(batch, limit=2, cursor=rest.cursor).items == [e]

    record = ledger.record(d)
    assert record is not None and record.batch == batch and record.labels == {"meeting": "3"}
    assert store.batches("alice").items[0] == batch
    assert batch in store.batches(None, limit=1000).items
    assert store.batches("bob").items == []
