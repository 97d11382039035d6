"""Measurement: ``GET /v1/batches/{id}`` of a 10,000-job batch on a real ``confrec serve``.

The batch is recorded in the rig's Redis through the ledger's own steps (``enqueued`` in
chunks, as the producer does; then ``begin`` and ``publish`` for a few jobs, some failed),
so its counters are the ones a real run leaves. The answer is timed by the client over
loopback on one keep-alive connection (HTTP included): the median and p95 of 50 after a
warm-up, and the same for a page of the batch's failed jobs (each job's status read).
"""

from __future__ import annotations

import statistics
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.procs import Rig
from confrec.config.settings import Settings
from confrec.tasks.job import Outcome, RecordStartJob
from confrec.tasks.store.ledger import JobLedger
from confrec.worker.local.processes import start_serve
from confrec.worker.producing import create_ledger

TOKEN = "bench-batch-token"
PRINCIPAL = "bench"
ROUNDS = 50
CHUNK = 1000

Row = tuple[str, str, str, str]


def batch_phase(rig: Rig, jobs: int = 10_000, finished: int = 200) -> dict[str, Any]:
    rig.flush()
    batch = _batch(create_ledger(Settings(broker_url=rig.url)), jobs, finished)
    env = {"CONFREC_BROKER_URL": rig.url, "CONFREC_API_TOKENS": f"{PRINCIPAL}:{TOKEN}"}
    with ExitStack() as stack:
        serve = start_serve(rig.workdir, env)
        stack.callback(serve.stop)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=serve.extra["root"], headers=headers, timeout=30) as client:
            summary = _timed(client, f"/v1/batches/{batch}")
            counted = client.get(f"/v1/batches/{batch}").json()
            if counted["total"] != jobs or counted["states"]["finished"] != finished:
                raise AssertionError(f"the batch is not the one recorded: {counted}")
            failed = _timed(client, f"/v1/batches/{batch}/jobs?status=failed&limit=100")
    rig.flush()
    return {"jobs": jobs, "finished": finished, "summary": summary, "failed_page": failed}


def _batch(ledger: JobLedger, jobs: int, finished: int) -> str:
    """A batch of ``jobs`` queued jobs, the first ``finished`` of them with an outcome
    (every fourth failed, rejected)."""
    batch = str(uuid.uuid4())
    at = datetime.now(UTC).isoformat()
    made = [
        (f"bench-{batch[:8]}-{n}", RecordStartJob(conference_id=str(uuid.uuid4()), format="wav"))
        for n in range(jobs)
    ]
    for start in range(0, jobs, CHUNK):
        ledger.enqueued(made[start : start + CHUNK], at, PRINCIPAL, batch)
    for n, (job_id, job) in enumerate(made[:finished]):
        ledger.begin(job_id, job.conference_id, f"cmd-{n}")
        failed = n % 4 == 3
        outcome = Outcome(
            job_id=job_id,
            conference_id=job.conference_id,
            command_id=f"cmd-{n}",
            status="failed" if failed else "succeeded",
            reason="rejected" if failed else "ok",
            http_status=422 if failed else 200,
            attempts=1,
        )
        ledger.publish(outcome)
    return batch


def _timed(client: httpx.Client, path: str) -> dict[str, Any]:
    client.get(path).raise_for_status()  # warm-up: the connection, the scripts
    latencies = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        answer = client.get(path)
        latencies.append((time.perf_counter() - t0) * 1000)
        answer.raise_for_status()
    cuts = statistics.quantiles(latencies, n=20)
    return {
        "median_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(cuts[18], 2),
        "max_ms": round(max(latencies), 2),
        "bytes": len(answer.content),
    }


def batch_rows(r: dict[str, Any]) -> list[Row]:
    summary, failed = r["summary"], r["failed_page"]
    return [
        (
            f"GET /v1/batches/{{id}}, {r['jobs']:,} jobs, median / p95 of {ROUNDS}",
            f"{summary['median_ms']} / {summary['p95_ms']} ms",
            "well under 1 s",
            f"{'met' if summary['p95_ms'] < 1000 else 'MISSED'}; max {summary['max_ms']} ms",
        ),
        (
            f"GET /v1/batches/{{id}}/jobs?status=failed, {r['finished'] // 4} jobs in one page",
            f"{failed['median_ms']} / {failed['p95_ms']} ms",
            "",
            f"max {failed['max_ms']} ms, {failed['bytes']:,} bytes",
        ),
    ]
