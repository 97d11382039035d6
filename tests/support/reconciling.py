"""Reconciliation on a real Redis with Telnyx answered by respx: jobs left as a worker
leaves them after their 2xx, a reconciler on them, and their recording state as serve
shows it. The webhook side is the store serve calls (``store_recording``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
from pydantic import SecretStr

from confrec.tasks.job import Outcome, RecordStartJob
from confrec.tasks.reconcile import Reconciler
from confrec.tasks.status import JobStatus, job_status
from confrec.tasks.store.conferences import ConferenceStore
from confrec.tasks.store.ledger import JobLedger, Started
from confrec.tasks.store.reconcile_budget import ReconcileBudget
from confrec.tasks.store.schedule import ReconcileSchedule
from confrec.tasks.telnyx_api import TelnyxApi

BASE = "https://api.telnyx.test/v2"
RESULTS = "confrec:results"
RECORDINGS = "confrec:recordings"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def started_job(client: redis.Redis, conference_id: str, *, poll_at: float | None = None) -> str:
    """A job that got its 2xx just now (as a worker publishes it): a candidate of its
    conference's recordings (or a name to resolve), on the schedule at ``poll_at``."""
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    job = RecordStartJob(conference_id=conference_id, format="wav", command_id=str(uuid.uuid4()))
    ledger = JobLedger(client, RESULTS)
    ledger.enqueued([(job_id, job)], iso(time.time()))
    publish_started(ledger, job_id, job, poll_at=poll_at)
    return job_id


def publish_started(
    ledger: JobLedger,
    job_id: str,
    job: RecordStartJob,
    *,
    poll_at: float | None = None,
    skew_s: float = 3.0,
) -> None:
    """The job's 2xx published now, as a worker publishes it."""
    outcome = Outcome(
        job_id=job_id,
        conference_id=job.conference_id,
        command_id=job.command_id,
        status="succeeded",
        reason="ok",
    )
    now = time.time()
    when = now if poll_at is None else poll_at
    started = Started(now, 0.0, skew_s, job.format, "single", "", when)
    assert ledger.publish(outcome, started)


def reconciler(
    client: redis.Redis,
    *,
    grace_s: float = 0,
    max_pages: int = 20,
    clock: Callable[[], float] = time.time,
) -> tuple[Reconciler, TelnyxApi]:
    """A reconciler on ``client`` (close the api after)."""
    api = TelnyxApi(BASE, SecretStr("KEYreconcile"), timeout=2)
    found = Reconciler(
        api,
        ConferenceStore(client, RECORDINGS),
        JobLedger(client, RESULTS),
        ReconcileSchedule(client),
        budget=ReconcileBudget(client, rate=1000),
        grace_s=grace_s,
        poll_s=1,
        lease_s=30,
        max_pages=max_pages,
        clock=clock,
    )
    return found, api


def status(client: redis.Redis, job_id: str) -> JobStatus:
    found = job_status(JobLedger(client, RESULTS), ConferenceStore(client, RECORDINGS), job_id)
    assert found is not None
    return found


def listed(conference_id: str, recording_id: str, started_at: float) -> dict[str, Any]:
    """A ``GET /v2/recordings`` item as Telnyx lists it."""
    return {
        "record_type": "recording",
        "id": recording_id,
        "conference_id": conference_id,
        "channels": "single",
        "recording_started_at": iso(started_at),
        "recording_ended_at": iso(started_at + 5),
        "download_urls": {"wav": f"https://rec.example.invalid/{recording_id}.wav"},
    }


def saved_payload(conference_id: str, recording_id: str, started_at: float) -> dict[str, Any]:
    """A ``conference.recording.saved`` payload (the webhook's ``data.payload``)."""
    return {
        "conference_id": conference_id,
        "recording_id": recording_id,
        "format": "wav",
        "channels": "single",
        "recording_started_at": iso(started_at),
        "recording_ended_at": iso(started_at + 5),
        "recording_urls": {"wav": f"https://rec.example.invalid/{recording_id}.wav"},
    }


def page(items: list[dict[str, Any]], total_pages: int = 1) -> dict[str, Any]:
    return {"data": items, "meta": {"total_pages": total_pages, "page_number": 1}}
