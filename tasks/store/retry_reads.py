"""What a retry reads of a batch's failed jobs: each job's attempts and their certainty,
its recording state, whether it was retried, and its request fields — a page of jobs in
one round trip (pipelined HMGETs of their job state).

The fields are written in the steps that record them: ``nothing_started`` by the
throttle's take and the outcome's publish, ``retried_as`` and ``fields`` by the enqueue
(``lua/ledger_enqueued.lua``), ``rec`` by ``lua/batch.lua``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from pydantic import ValidationError

from confrec.tasks.job import RecordStartJob
from confrec.tasks.retry_rules import RetryFacts
from confrec.tasks.store import keys

_FIELDS = (
    "attempts",
    "nothing_started",
    "rec",
    "retried_as",
    "fields",
    "conference_id",
    "command_id",
    "labels",
)


@dataclass(frozen=True)
class FailedJob:
    """One failed job as a retry sees it; ``job`` is None when it cannot be rebuilt."""

    job_id: str
    facts: RetryFacts | None
    job: RecordStartJob | None
    """The job as enqueued, its command_id fixed: what a retry sends again."""


class RetryReads:
    """``client`` decodes replies (``decode_responses=True``)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def failed(self, job_ids: Sequence[str], reason: str) -> list[FailedJob]:
        """These jobs (all of one outcome ``reason``), in order, in one round trip."""
        with self._client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hmget(keys.job_state(job_id), _FIELDS)
            replies: list[list[str | None]] = pipe.execute()
        return [_failed(j, reason, r) for j, r in zip(job_ids, replies, strict=True)]


def _failed(job_id: str, reason: str, values: list[str | None]) -> FailedJob:
    attempts, nothing, rec, retried_as, fields, conference_id, command_id, labels = values
    if conference_id is None:  # the job's state expired
        return FailedJob(job_id, None, None)
    job = _job(fields, conference_id, command_id, labels)
    facts = RetryFacts(
        job_id=job_id,
        reason=reason,
        attempts=int(attempts or 0),
        nothing_started=int(nothing or 0),
        recording=rec or None,
        retried_as=retried_as or None,
        has_fields=job is not None,
    )
    return FailedJob(job_id, facts, job)


def _job(
    fields: str | None, conference_id: str, command_id: str | None, labels: str | None
) -> RecordStartJob | None:
    """The job rebuilt from what its enqueue kept; None without its fields or command_id."""
    if not fields or not command_id:
        return None
    body = json.loads(fields) | {"conference_id": conference_id, "command_id": command_id}
    if labels:
        body["labels"] = json.loads(labels)
    try:
        return RecordStartJob.model_validate(body)
    except ValidationError:
        return None
