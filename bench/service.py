"""Measurement 5: ``confrec serve`` — how fast webhooks are answered, and a bulk over HTTP.

One ``confrec serve`` process on the rig's Redis. Webhooks: signed
``conference.recording.saved`` events POSTed one after another on one keep-alive
connection, as Telnyx sends them, each with a new ``data.id`` and matched to a job (the
full path: verify, look up the job, store once); latency is the client's, from sending
the request to reading the answer, so it includes HTTP on loopback. Then each event is
sent again (a duplicate: verified, refused by the seen-marker). Bulk: ``POST
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
from typing import Any

import httpx
from nacl.signing import SigningKey

from bench.procs import Rig
from confrec.config.settings import Settings
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
    conference = f"bench-conf-{uuid.uuid4().hex[:8]}"
    create_ledger(Settings(broker_url=rig.url)).begin("bench-job", conference, "bench-cmd")
    with ExitStack() as stack:
        serve = start_serve(rig.workdir, env)
        stack.callback(serve.stop)
        root = serve.extra["root"]
        with httpx.Client(base_url=root, timeout=30) as client:
            events = [_event(conference) for _ in range(webhooks)]
            first = _post_webhooks(client, key, events)
            again = _post_webhooks(client, key, events)
            bulk = _post_bulk(client, bulk_jobs)
    rig.flush()
    return {"webhooks": webhooks, "first": first, "duplicate": again, "bulk": bulk}


def _event(conference: str) -> bytes:
    data = {
        "record_type": "event",
        "event_type": "conference.recording.saved",
        "id": str(uuid.uuid4()),
        "payload": {"conference_id": conference, "recording_id": str(uuid.uuid4())},
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
