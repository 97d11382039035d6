"""A job's status: what ``confrec status`` prints and ``GET /v1/jobs/{job_id}`` returns.

Composed from the two modules that write it: the ledger (state and outcome) and the
recordings store (what Telnyx reported saved).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from confrec.tasks.job import Outcome
from confrec.tasks.store.ledger import JobLedger, JobState
from confrec.tasks.store.recordings import RecordingsStore


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    conference_id: str | None
    command_id: str | None
    state: JobState
    outcome: Outcome | None
    recordings: list[dict[str, Any]]
    """Each a ``conference.recording.saved`` event's ``data`` (its ``payload`` holds the URLs)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "conference_id": self.conference_id,
            "command_id": self.command_id,
            "state": self.state,
            "outcome": json.loads(self.outcome.to_json()) if self.outcome else None,
            "recordings": self.recordings,
        }


def job_status(ledger: JobLedger, recordings: RecordingsStore, job_id: str) -> JobStatus | None:
    """The job's status, or None when neither the ledger nor the stream knows it."""
    record = ledger.record(job_id)
    if record is None:
        return None
    outcome = record.outcome
    return JobStatus(
        job_id=job_id,
        conference_id=record.conference_id or (outcome.conference_id if outcome else None),
        command_id=record.command_id or (outcome.command_id if outcome else None),
        state=record.state,
        outcome=outcome,
        recordings=recordings.for_job(job_id),
    )
