"""Retrying a batch: its failed jobs that certainly started nothing, sent again as new
jobs (same command_id, marked ``retry_of``) in a new batch; every other failed job is
listed ``uncertain`` with the reason (``tasks.retry_rules``).

Two steps, so that a caller can check the count against a rate limit in between:
``plan`` reads (a page of jobs per round trip, the conferences' ends in one more), and
``enqueue`` sends. Sending twice is harmless: the ledger's enqueue step claims each
original (``retried_as``) with the new job, so a job is never retried twice, even by two
retries at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from confrec.tasks.job import RecordStartJob
from confrec.tasks.principal import Principal
from confrec.tasks.publishing.producer import Producer
from confrec.tasks.retry_rules import ALREADY_RETRIED, CONFERENCE_ENDED, why_not
from confrec.tasks.store.batches import BatchStore, BatchSummary
from confrec.tasks.store.conferences import ConferenceStore
from confrec.tasks.store.retry_reads import RetryReads

#: The batch lists of failed jobs, each named for its outcome's reason.
FAILED_LISTS = ("retries_exhausted", "rejected", "invalid")


@dataclass(frozen=True)
class Uncertain:
    job_id: str
    reason: str


@dataclass
class RetryPlan:
    """What ``plan`` found: the jobs to send again, and why each other failed job is not."""

    batch: BatchSummary
    sendable: list[tuple[str, RecordStartJob]] = field(default_factory=list)
    uncertain: list[Uncertain] = field(default_factory=list)


@dataclass(frozen=True)
class RetryReport:
    """The answer of ``POST /v1/batches/{id}/retry`` and ``confrec batch retry``."""

    batch_id: str
    retry_batch: str | None
    """The new batch, None when nothing was sent."""
    retried: list[tuple[str, str]]
    """(the failed job, the new job that sends it again)."""
    uncertain: list[Uncertain]

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_id,
            "retry_batch": self.retry_batch,
            "retried": [{"job_id": old, "new_job_id": new} for old, new in self.retried],
            "uncertain": [{"job_id": u.job_id, "reason": u.reason} for u in self.uncertain],
        }


@dataclass(frozen=True)
class BatchRetry:
    """Plans and sends a batch's retry; built from the stores it reads and the producer."""

    batches: BatchStore
    reads: RetryReads
    conferences: ConferenceStore
    producer: Producer
    page: int = 500
    """Failed jobs read per round trip."""

    def plan(self, batch_id: str) -> RetryPlan | None:
        """The batch's failed jobs judged; None when there is no such batch."""
        summary = self.batches.summary(batch_id)
        if summary is None:
            return None
        plan = RetryPlan(summary)
        for reason in FAILED_LISTS:
            cursor: str | None = None
            while True:
                page = self.batches.jobs(batch_id, reason, limit=self.page, cursor=cursor)
                for failed in self.reads.failed(page.items, reason):
                    why = why_not(failed.facts)
                    if why is None and failed.job is not None:
                        plan.sendable.append((failed.job_id, failed.job))
                    else:
                        plan.uncertain.append(Uncertain(failed.job_id, why or ""))
                cursor = page.cursor
                if cursor is None:
                    break
        ended = self.conferences.ended_among(job.conference_id for _, job in plan.sendable)
        for job_id, job in plan.sendable:
            if job.conference_id in ended:
                plan.uncertain.append(Uncertain(job_id, CONFERENCE_ENDED))
        plan.sendable = [(j, job) for j, job in plan.sendable if job.conference_id not in ended]
        return plan

    def enqueue(self, plan: RetryPlan) -> RetryReport:
        """Send the plan's jobs as a new batch of the original batch's owner."""
        if not plan.sendable:
            return RetryReport(plan.batch.batch_id, None, [], plan.uncertain)
        owner = plan.batch.principal
        batch = str(uuid.uuid4())
        sent = self.producer.enqueue_retries(
            plan.sendable,
            batch=batch,
            retry_of_batch=plan.batch.batch_id,
            principal=Principal(owner) if owner else None,
        )
        retried = [(old, sent[old].job_id) for old, _ in plan.sendable if old in sent]
        raced = [Uncertain(old, ALREADY_RETRIED) for old, _ in plan.sendable if old not in sent]
        return RetryReport(
            plan.batch.batch_id, batch if sent else None, retried, plan.uncertain + raced
        )
