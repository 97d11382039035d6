"""A delivery that raised: redelivered with backoff a bounded number of times, then failed.

Celery acks a task that raised, so any exception escaping the task before its outcome is
published would leave a job with no outcome (the task raises ``JobFailed`` only after a
``failed`` one is published). Instead every exception ends here: the delivery waits a
backoff and is handed back to the queue (Celery's ``Reject(requeue=True)``; with late
acks the message stays unacked until then), and once a job has raised
``max_faulty_deliveries`` times it is published ``failed``/``retries_exhausted`` with
the exception's type as ``detail``. While Redis itself fails nothing can be counted or
published, so such deliveries back off and come back until it answers again: slow, never
a hot loop, never acked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

import redis
from celery.exceptions import Reject
from pydantic import ValidationError

from confrec.tasks import metrics
from confrec.tasks.job import DELIVERY_LIMIT, Outcome, RecordStartJob
from confrec.tasks.policy import FaultPolicy
from confrec.tasks.store.ledger import JobLedger

log = logging.getLogger(__name__)

#: Deliveries remembered per process for Redis-failure backoff; cleared when full.
_MEMORY = 10_000


def requeue_after(delay: float, why: str, sleep: Callable[[float], None] = time.sleep) -> NoReturn:
    """Wait ``delay`` seconds, then hand the delivery back to the queue."""
    sleep(delay)
    raise Reject(f"{why}; requeued after {delay:.1f}s", requeue=True)


class FaultHandler:
    """Decides what a delivery that raised comes to; the exception's text goes only to
    the (redacted) log, never into the outcome or the broker."""

    def __init__(
        self,
        ledger: JobLedger,
        policy: FaultPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ledger = ledger
        self.policy = policy
        self._sleep = sleep
        self._redis_failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def settle(
        self,
        job_id: str,
        kwargs: dict[str, Any],
        exc: Exception,
        *,
        enqueued_at: str | None,
        batch: str | None,
        raw_job_id: str | None = None,
        retry_of: str | None = None,
    ) -> Outcome | None:
        """The failed outcome once the bound is reached (None if the job already had one);
        before that, back off and raise ``Reject(requeue=True)``."""
        kind = type(exc).__name__
        metrics.FAULTY_DELIVERIES.inc()
        if isinstance(exc, redis.RedisError):
            self._redis_failed(job_id, kind)
        log.warning("job %s: delivery raised %s: %s", job_id, kind, exc)
        try:
            fault = self.ledger.count_fault(job_id)
            if fault is None:
                return None
            if fault.number < self.policy.max_faulty_deliveries:
                requeue_after(self.policy.backoff(fault.number), f"raised {kind}", self._sleep)
            outcome = _fault_outcome(job_id, kwargs, kind, fault.attempts, fault.number)
            update = {
                "enqueued_at": enqueued_at,
                "batch": batch,
                "raw_job_id": raw_job_id,
                "retry_of": retry_of,
            }
            outcome = outcome.model_copy(update=update)
            published = self.ledger.publish(outcome)
        except redis.RedisError as redis_exc:
            self._redis_failed(job_id, type(redis_exc).__name__)
        log.error(
            "job %s failed after %d faulty deliveries (last raised %s)", job_id, fault.number, kind
        )
        return outcome if published else None

    def dead_lettered(
        self,
        job_id: str,
        kwargs: dict[str, Any],
        *,
        enqueued_at: str | None,
        batch: str | None,
        raw_job_id: str | None = None,
        retry_of: str | None = None,
    ) -> Outcome | None:
        """The broker gave up on this message (RabbitMQ's delivery limit): publish it
        ``failed`` without another attempt, so a message that kills its workers still
        ends in an outcome (None if the job already had one)."""
        try:
            record = self.ledger.record(job_id)
            attempts, deliveries = (record.attempts, record.deliveries) if record else (0, 0)
            outcome = _fault_outcome(job_id, kwargs, DELIVERY_LIMIT, attempts, None)
            update = {
                "enqueued_at": enqueued_at,
                "batch": batch,
                "raw_job_id": raw_job_id,
                "retry_of": retry_of,
                "redelivered": deliveries or None,
            }
            outcome = outcome.model_copy(update=update)
            published = self.ledger.publish(outcome)
        except redis.RedisError as redis_exc:
            self._redis_failed(job_id, type(redis_exc).__name__)
        log.error("job %s failed: the broker's delivery limit was reached", job_id)
        return outcome if published else None

    def _redis_failed(self, job_id: str, kind: str) -> NoReturn:
        with self._lock:
            if len(self._redis_failures) >= _MEMORY:
                self._redis_failures.clear()
            number = self._redis_failures[job_id] = self._redis_failures.get(job_id, 0) + 1
        delay = self.policy.backoff(number)
        log.warning("job %s: Redis failed (%s); redelivered in %.1fs", job_id, kind, delay)
        requeue_after(delay, f"Redis failed mid-job ({kind})", self._sleep)


def _fault_outcome(
    job_id: str, kwargs: dict[str, Any], kind: str, attempts: int, faults: int | None
) -> Outcome:
    try:
        job = RecordStartJob.model_validate(kwargs)
        conference_id, command_id = job.conference_id, job.command_id_for(job_id)
    except ValidationError:
        conference_id, command_id = str(kwargs.get("conference_id", ""))[:256], None
    return Outcome(
        job_id=job_id,
        conference_id=conference_id,
        command_id=command_id,
        status="failed",
        reason="retries_exhausted",
        attempts=attempts,
        detail=kind,
        faulty_deliveries=faults,
    )
