"""Which failed jobs are certainly safe to send again (pure decisions).

A retry sends a job again as a new job with the SAME command_id. Telnyx ignores a repeated
command_id for the same conference only within about 60 seconds, and a retry asked for by
a user comes later than that; so a job is sent again only when Telnyx certainly started
nothing for it: every attempt was answered 429 or 503, or never reached Telnyx (the
connection failed before a byte of the request was sent). A 500, 502 or 504, a timeout
while waiting for the answer, a connection cut mid-request, or a delivery that died
mid-attempt may come after Telnyx acted: such a job is ``uncertain``, and listed with
the reason rather than sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

#: Answers Telnyx gives before it acts: rate limited, or the service is unavailable.
NOTHING_STARTED_STATUSES = frozenset({429, 503})
#: Exceptions raised before a byte of the request left: the connection never opened.
NOTHING_SENT_ERRORS: tuple[type[httpx.HTTPError], ...] = (httpx.ConnectError, httpx.ConnectTimeout)

# Why a failed job is not retried (the ``reason`` of an ``uncertain`` entry).
ALREADY_RETRIED = "already_retried"
"""It was retried before (``retried_as`` names the new job): never sent twice."""
NOT_TRANSIENT = "not_retries_exhausted"
"""It ended ``rejected`` or ``invalid``: Telnyx (or validation) refused it; the same job
would be refused again."""
ATTEMPT_UNCERTAIN = "attempt_uncertain"
"""Some attempt may have reached Telnyx: a 500/502/504, a timeout or a connection cut
after the request went out, or a delivery that died mid-attempt."""
RECORDING_SEEN = "recording_seen"
"""A recording is matched to the job, or pending for it."""
CONFERENCE_ENDED = "conference_ended"
"""Its conference is known to have ended (a ``conference.ended`` webhook or a poll)."""
JOB_UNKNOWN = "job_unknown"
"""Its state expired, or it was enqueued before confrec kept a job's fields."""


def started_nothing_status(status: int) -> bool:
    """An HTTP answer that tells Telnyx started nothing (429, 503)."""
    return status in NOTHING_STARTED_STATUSES


def started_nothing_error(exc: BaseException) -> bool:
    """A transport error raised before any byte of the request was sent."""
    return isinstance(exc, NOTHING_SENT_ERRORS)


@dataclass(frozen=True)
class RetryFacts:
    """What the ledger holds of one failed job, as a retry judges it."""

    job_id: str
    reason: str
    """The outcome's reason (the batch list the job is in)."""
    attempts: int
    """Attempts recorded as they went out (the throttle's step)."""
    nothing_started: int
    """Of those, the ones known to have started nothing (429, 503, no connection)."""
    recording: str | None
    """The job's recording state as its batch counts it (``rec``); None: none."""
    retried_as: str | None
    has_fields: bool
    """Its request fields were kept at enqueue (needed to send it again)."""


def why_not(facts: RetryFacts | None) -> str | None:
    """None when the job may be sent again; else why not. The conference's end is judged
    apart (``conference_ended``), once per conference."""
    if facts is None or not facts.has_fields:
        return JOB_UNKNOWN
    if facts.retried_as:
        return ALREADY_RETRIED
    if facts.reason != "retries_exhausted":
        return NOT_TRANSIENT
    if facts.nothing_started < facts.attempts:
        return ATTEMPT_UNCERTAIN
    if facts.recording is not None:
        return RECORDING_SEEN
    return None
