"""Measurement 5: ``confrec serve`` — how fast webhooks are answered, and a bulk over HTTP.

One ``confrec serve`` process on the rig's Redis. Webhooks: signed
``conference.recording.saved`` events POSTed one after another on one keep-alive
connection, as Telnyx sends them, one per conference, each conference with a job that
started a recording on it (the full path: verify, read the conference's facts, match,
store once); latency is the client's, from sending the request to reading the answer, so
it includes HTTP on loopback. Then each event is sent again (a duplicate: verified,
refused because its recording id is stored). Bulk: ``POST
/v1/jobs/bulk`` of N jobs, timed from the request to the 202 (validated, recorded,
enqueued).
"""

from __future__ import annotations

import base64
import json
import statistics
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
from nacl.signing import SigningKey

from bench.procs import Rig
from confrec.config.settings import Settings
from confrec.tasks.job import Outcome
from confrec.tasks.store.ledger import JobLedger, Started
from confrec.worker.local.processes import start_serve
from confrec.worker.producing import create_ledger

TOKEN = "bench-token"


def service_phase(rig: Rig, webhooks: int, bulk_jobs: int) -> dict[str, Any]:
    key = SigningKey.generate()
    env = {
        "CONFREC_BROKER_URL": rig.url,
        "CONFREC_API_TOKENS": TOKEN,
        "TELNYX_PUBLIC_KEY": base64.b64encode(bytes(key.verify_key)).decode(),
    }
    rig.flush()
    conferences = _started_jobs(create_ledger(Settings(broker_url=rig.url)), webhooks)
    with ExitStack() as stack:
        serve = start_serve(rig.workdir, env)
        stack.callback(serve.stop)
        root = serve.extra["root"]
        with httpx.Client(base_url=root, timeout=30) as client:
            events = [_event(conference) for conference in conferences]
            first = _post_webhooks(client, key, events)
            again = _post_webhooks(client, key, events)
            bulk = _post_bulk(client, bulk_jobs)
    rig.flush()
    return {"webhooks": webhooks, "first": first, "duplicate": again, "bulk": bulk}


def _started_jobs(ledger: JobLedger, count: int) -> list[str]:
    """A job that started a recording on each of ``count`` conferences, as a worker
    leaves it: each webhook is then matched to a job, the work serve really does."""
    conferences = [str(uuid.uuid4()) for _ in range(count)]
    now = time.time()
    for n, conference in enumerate(conferences):
        outcome = Outcome(
            job_id=f"bench-job-{n}",
            conference_id=conference,
            command_id=f"bench-cmd-{n}",
            status="succeeded",
            reason="ok",
        )
        ledger.publish(outcome, Started(now, 0.0, 3.0, "wav", "single", "", now + 3600))
    return conferences


def _event(conference: str) -> bytes:
    started = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    payload = {
        "conference_id": conference,
        "recording_id": str(uuid.uuid4()),
        "format": "wav",
        "channels": "single",
        "recording_started_at": started,
    }
    data = {
        "record_type": "event",
        "event_type": "conference.recording.saved",
        "id": str(uuid.uuid4()),
        "payload": payload,
    }
    return json.dumps({"data": data}).encode()


def _post_webhooks(client: httpx.Client, key: SigningKey, events: list[bytes]) -> dict[str, Any]:
    latencies = []
    stored = 0
    for body in events:
        timestamp = str(int(time.time()))
        signature = key.sign(timestamp.encode() + b"|" + body).signature
        headers = {
            "telnyx-timestamp": timestamp,
            "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            "content-type": "application/json",
        }
        t0 = time.perf_counter()
        answer = client.post("/webhooks/telnyx", content=body, headers=headers)
        latencies.append((time.perf_counter() - t0) * 1000)
        answer.raise_for_status()
        stored += bool(answer.json()["stored"])
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "stored": stored,
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(max(latencies), 2),
    }


def _post_bulk(client: httpx.Client, jobs: int) -> dict[str, Any]:
    body = [{"conference_id": f"bulk-{i:06d}", "format": "wav"} for i in range(jobs)]
    t0 = time.perf_counter()
    answer = client.post("/v1/jobs/bulk", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    seconds = time.perf_counter() - t0
    answer.raise_for_status()
    return {
        "jobs": len(answer.json()["jobs"]),
        "seconds": round(seconds, 3),
        "rate": round(jobs / seconds),
    }
