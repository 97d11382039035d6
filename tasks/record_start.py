"""RecordStartHandler: one delivery of one job, wired model → policy → transport → ledger.

This is the body of the Celery task ``confrec.record_start``; the task itself, and the
per-process wiring that builds a handler from the settings, are runtime
(``confrec.worker.task``). Everything here receives its parts, so it runs the same in a
worker, a test or a benchmark.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from confrec.config.settings import TELNYX_DEDUPE_WINDOW_S
from confrec.tasks import metrics
from confrec.tasks.job import (
    DELIVERY_LIMIT,
    Outcome,
    RecordStartJob,
    TelnyxError,
    conference_is_name,
)
from confrec.tasks.policy import (
    AttemptResult,
    RetryPolicy,
    Verdict,
    classify_exception,
    classify_response,
    run_with_retries,
)
from confrec.tasks.retry_rules import started_nothing_error, started_nothing_status
from confrec.tasks.store.ledger import Delivery, JobLedger, Started
from confrec.tasks.store.throttle import FleetThrottle
from confrec.tasks.telnyx import TelnyxClient

log = logging.getLogger(__name__)

#: A name is resolved while its conference is still in progress, the one moment Telnyx's
#: list tells it apart from earlier conferences of the same name.
NAME_RESOLVE_DELAY_S = 1.0


class RecordStartHandler:
    """Runs one delivery of one job and publishes its outcome (at most once per job)."""

    def __init__(
        self,
        telnyx: TelnyxClient,
        ledger: JobLedger,
        throttle: FleetThrottle,
        policy: RetryPolicy,
        *,
        delivery_limit: int | None = None,
        clock_skew_s: float = 3.0,
        poll_s: float = 60.0,
    ) -> None:
        self.telnyx = telnyx
        self.clock_skew_s = clock_skew_s
        self.poll_s = poll_s
        """When reconciliation first looks at a started job's conference."""
        self.ledger = ledger
        self.throttle = throttle
        self.policy = policy
        self.delivery_limit = delivery_limit
        """Redeliveries a job may have; the next one is published failed, unsent (a job
        that kills every worker it reaches must still end). RabbitMQ's own count of the
        same, on its queue, dead-letters such a message even before it reaches us."""

    def handle(
        self,
        job_id: str,
        kwargs: dict[str, Any],
        *,
        enqueued_at: str | None = None,
        batch: str | None = None,
        raw_job_id: str | None = None,
        retry_of: str | None = None,
    ) -> Outcome | None:
        """Process one delivery; returns the outcome published, or None if already done.
        ``retry_of``: the job this one retries (``confrec_retry_of``)."""
        extra = _extras(batch, raw_job_id, retry_of)
        try:
            job = RecordStartJob.model_validate(kwargs)
        except ValidationError as exc:
            return self._publish(_invalid_outcome(job_id, kwargs, exc, enqueued_at, extra))
        command_id = job.command_id_for(job_id)
        deadline = time.monotonic() + self.policy.deadline_s
        delivery = self.ledger.begin(
            job_id,
            job.conference_id,
            command_id,
            take=self.throttle.request(job_id, deadline),  # the first attempt's, same trip
            delivery_limit=self.delivery_limit,
        )
        if delivery is None:
            log.info("job %s already has its outcome; redelivery skipped", job_id)
            return None
        base = {
            "job_id": job_id,
            "conference_id": job.conference_id,
            "command_id": command_id,
            "enqueued_at": enqueued_at or _iso(delivery.first_seen_at),
            **extra,
        }
        if job.labels:
            base["labels"] = job.labels
        if delivery.succeeded_as:
            return self._publish(
                Outcome(status="succeeded", reason="ok", duplicate_of=delivery.succeeded_as, **base)
            )
        if self.delivery_limit is not None and delivery.number > self.delivery_limit + 1:
            log.error("job %s: delivery %d is past the delivery limit", job_id, delivery.number)
            return self._publish(
                Outcome(
                    status="failed",
                    reason="retries_exhausted",
                    detail=DELIVERY_LIMIT,
                    attempts=delivery.attempts_before,
                    redelivered=delivery.number,
                    **base,
                )
            )
        base |= _redelivery_marks(job_id, delivery)
        result, sent, nothing = self._send_with_retries(
            job_id, job, command_id, deadline, delivery.taken
        )
        outcome = _final_outcome(result, delivery.attempts_before + sent, base)
        return self._publish(outcome, self._started(job, result), nothing)

    def refuse(
        self,
        job_id: str,
        problem: str,
        *,
        enqueued_at: str | None = None,
        batch: str | None = None,
        raw_job_id: str | None = None,
        retry_of: str | None = None,
    ) -> Outcome | None:
        """The ``invalid`` outcome of a message that cannot run at all (its body is not
        JSON, wrong shapes, …: ``confrec.worker.inbound``); no HTTP call."""
        error = TelnyxError(code="invalid", title="message", detail=problem)
        outcome = Outcome(
            job_id=job_id,
            conference_id="",
            command_id=None,
            status="failed",
            reason="invalid",
            errors=[error],
            enqueued_at=enqueued_at,
            **_extras(batch, raw_job_id, retry_of),
        )
        return self._publish(outcome)

    def _started(self, job: RecordStartJob, result: AttemptResult) -> Started | None:
        """What the 2xx tells matching and reconciliation; None when nothing started."""
        if result.verdict is not Verdict.SUCCEEDED or result.answered_at is None:
            return None
        by_name = conference_is_name(job.conference_id)
        return Started(
            answered_at=result.answered_at,
            offset=result.clock_offset,
            skew_s=self.clock_skew_s,
            format=job.format,
            channels=job.channels or "single",
            region=job.region or "",
            poll_at=result.answered_at + (NAME_RESOLVE_DELAY_S if by_name else self.poll_s),
        )

    def _send_with_retries(
        self,
        job_id: str,
        job: RecordStartJob,
        command_id: str,
        deadline: float,
        taken: tuple[int, int] | None,
    ) -> tuple[AttemptResult, int, int]:
        """The tenacity loop over HTTP attempts; returns the last result, how many were
        sent (an attempt held back by the fleet limit past the deadline is not sent), and
        how many of them started nothing and are not yet recorded so (``publish`` does).
        ``taken``: the throttle's answer for the first attempt, asked by ``begin``."""
        sent = 0
        nothing = 0  # attempts known to have started nothing, not yet in the job's state
        first = [taken]

        def attempt() -> AttemptResult:
            nonlocal sent, nothing
            answer = first.pop() if first else None
            # Records this attempt, and the certainty of the earlier ones, in one step.
            if not self.throttle.acquire(job_id, deadline, taken=answer, nothing=nothing):
                return AttemptResult(Verdict.TRANSIENT, detail="fleet rate limit")
            sent, nothing = sent + 1, 0
            try:
                result = classify_response(self.telnyx.record_start(job, command_id))
                certain = started_nothing_status(result.http_status or 0)
            except httpx.HTTPError as exc:  # no usable answer; the same command_id is safe
                result, certain = classify_exception(exc), started_nothing_error(exc)
            nothing = int(certain)
            if result.http_status == 429 and result.retry_after:
                self.throttle.pause_fleet(result.retry_after)
            return result

        result, _ = run_with_retries(attempt, self.policy)
        return result, sent, nothing

    def _publish(
        self, outcome: Outcome, started: Started | None = None, nothing: int = 0
    ) -> Outcome | None:
        if self.ledger.publish(outcome, started, nothing=nothing) is None:
            log.info("job %s: outcome was already published by another delivery", outcome.job_id)
            return None
        log.info(
            "job %s conference %r: %s (%s) after %d attempt(s)",
            outcome.job_id,
            outcome.conference_id,
            outcome.status,
            outcome.reason,
            outcome.attempts,
        )
        return outcome


def _extras(batch: str | None, raw_job_id: str | None, retry_of: str | None) -> dict[str, Any]:
    """The outcome fields of where the message came from, those that apply."""
    found = {"batch": batch, "raw_job_id": raw_job_id, "retry_of": retry_of}
    return {name: value for name, value in found.items() if value}


def _redelivery_marks(job_id: str, delivery: Delivery) -> dict[str, Any]:
    """Outcome fields telling that an earlier delivery already sent attempts."""
    if delivery.last_attempt_at is None:
        return {}
    metrics.REDELIVERIES.inc()
    marks: dict[str, Any] = {"redelivered": delivery.number}
    since = time.time() - delivery.last_attempt_at
    if since > TELNYX_DEDUPE_WINDOW_S:
        marks["redelivered_after_dedupe_window"] = True
        log.warning(
            "job %s redelivered %.0fs after its last attempt, outside Telnyx's command_id "
            "window: sending again may start a second recording",
            job_id,
            since,
        )
    return marks


def _final_outcome(result: AttemptResult, attempts: int, base: dict[str, Any]) -> Outcome:
    errors = [TelnyxError.model_validate(e) for e in result.errors]
    common: dict[str, Any] = {
        "http_status": result.http_status,
        "attempts": attempts,
        "errors": errors,
        **base,
    }
    if result.detail:
        common["detail"] = result.detail
    if result.verdict is Verdict.SUCCEEDED:
        return Outcome(status="succeeded", reason="ok", **common)
    if result.verdict is Verdict.TERMINAL:
        return Outcome(status="failed", reason="rejected", **common)
    return Outcome(status="failed", reason="retries_exhausted", **common)


def _invalid_outcome(
    job_id: str,
    kwargs: dict[str, Any],
    exc: ValidationError,
    enqueued_at: str | None,
    extra: dict[str, Any],
) -> Outcome:
    errors = [
        TelnyxError(
            code="invalid",
            title=".".join(str(p) for p in err["loc"]) or "job",
            detail=err["msg"],
        )
        for err in exc.errors()
    ]
    command_id = kwargs.get("command_id")
    return Outcome(
        job_id=job_id,
        conference_id=str(kwargs.get("conference_id", ""))[:256],
        command_id=command_id if isinstance(command_id, str) else None,
        status="failed",
        reason="invalid",
        errors=errors,
        enqueued_at=enqueued_at,
        **extra,
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
