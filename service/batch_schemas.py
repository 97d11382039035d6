"""Response models of ``/v1/batches``, for the OpenAPI document only: the handlers
answer with ``BatchSummary.as_dict()`` and ``tasks.batch_listing``'s items, which these
describe key for key."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class BatchStates(BaseModel):
    queued: int
    running: int
    finished: int


class BatchStatuses(BaseModel):
    succeeded: int
    failed: int


class BatchReasons(BaseModel):
    ok: int
    rejected: int
    retries_exhausted: int
    invalid: int


class BatchRecordings(BaseModel):
    """Jobs by recording state (docs/recordings.md), counted as their facts change."""

    pending: int
    saved: int
    not_saved: int
    unknown: int
    ambiguous: int


class Batch(BaseModel):
    """One batch's counts: each changed in the same atomic step as what it counts."""

    model_config = {"extra": "allow"}

    batch: str
    created_at: str
    batch_key: str | None
    total: int
    in_flight: bool
    """Some job has no outcome yet."""
    states: BatchStates
    statuses: BatchStatuses
    reasons: BatchReasons
    already_done: int
    """Jobs that sent nothing: their command had already succeeded (``duplicate_of``)."""
    recordings: BatchRecordings


class Batches(BaseModel):
    batches: list[Batch]
    """Newest first."""
    cursor: str | None
    """Pass as ``cursor`` for the next page; null: no more."""


class JobError(BaseModel):
    code: str
    title: str
    detail: str | None


class BatchJob(BaseModel):
    """One job of a batch: its status as ``GET /v1/jobs/{job_id}`` gives it, flattened;
    every key is present, null when not known (a job whose state expired)."""

    job_id: str
    seq: int = Field(description="Its place in the batch, from 1.")
    conference_id: str | None
    command_id: str | None
    labels: dict[str, str] | None
    state: Literal["queued", "running", "finished"] | None
    status: Literal["succeeded", "failed"] | None
    reason: Literal["ok", "rejected", "retries_exhausted", "invalid"] | None
    http_status: int | None
    attempts: int | None
    errors: list[JobError]
    """Telnyx's errors of a ``rejected`` job: code, title, detail."""
    detail: str | None
    duplicate_of: str | None
    retry_of: str | None
    recording_state: Literal["pending", "saved", "not_saved", "unknown", "ambiguous"] | None
    recording_reason: str | None
    recordings: list[dict[str, Any]]


class BatchJobs(BaseModel):
    batch: str
    jobs: list[BatchJob]
    """In batch order (``seq``)."""
    cursor: str | None
    """Pass as ``cursor`` for the next page; null: no more."""
