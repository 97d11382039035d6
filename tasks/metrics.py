"""The worker's Prometheus metrics, updated where each thing happens.

On prometheus_client's default registry, so that ``confrec worker`` can serve them from
every pool process at once (multiprocess mode, ``confrec.worker.metrics_server``); in a
unit test or a benchmark they are plain in-process counters. Labels are bounded sets
(status, reason, HTTP code), never conference ids, job ids or anything secret.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from confrec.tasks.job import Outcome

#: Seconds; Telnyx answers in tens of milliseconds, an attempt is bounded by the timeout.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

OUTCOMES = Counter(
    "confrec_outcomes", "Outcomes published, by status and reason.", ["status", "reason"]
)
TELNYX_REQUESTS = Counter(
    "confrec_telnyx_requests",
    "record_start requests sent to Telnyx, by HTTP status code ('error': no answer).",
    ["code"],
)
TELNYX_DURATION = Histogram(
    "confrec_telnyx_request_duration_seconds",
    "Time from sending a record_start to its answer (or to the transport error).",
    buckets=_LATENCY_BUCKETS,
)
JOB_ATTEMPTS = Histogram(
    "confrec_job_attempts",
    "HTTP attempts a job took, observed once per published outcome (0: none was sent).",
    buckets=(0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20),
)
RATE_LIMIT_WAIT = Histogram(
    "confrec_rate_limit_wait_seconds",
    "Time an attempt waited for the fleet-wide rate limit or a 429 pause (0: none).",
    buckets=(0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REDELIVERIES = Counter(
    "confrec_redeliveries",
    "Deliveries of a job that found attempts of an earlier delivery (its worker died).",
)
FAULTY_DELIVERIES = Counter(
    "confrec_faulty_deliveries",
    "Deliveries that raised and were settled by the fault handler (requeued or failed).",
)
RECOVERED_JOBS = Counter(
    "confrec_recovered_jobs",
    "Messages a sweep moved from a dead consumer's in-flight list back to the queue.",
)
MESSAGES_SET_ASIDE = Counter(
    "confrec_messages_set_aside",
    "Messages on the job queue that are not a job (no usable id, another task, an envelope "
    "kombu cannot parse), kept in confrec:undeliverable; by reason.",
    ["reason"],
)


def outcome_published(outcome: Outcome) -> None:
    """Count one outcome that this process published."""
    OUTCOMES.labels(outcome.status, outcome.reason).inc()
    JOB_ATTEMPTS.observe(outcome.attempts)


def telnyx_answered(code: int | None, seconds: float) -> None:
    """Count one record_start request: its status code, or None for no answer."""
    TELNYX_REQUESTS.labels("error" if code is None else str(code)).inc()
    TELNYX_DURATION.observe(seconds)
