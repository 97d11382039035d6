"""Every Redis key confrec writes, named in one place (as arq does).

The results stream's name is configurable (``CONFREC_RESULTS_STREAM``); every other key
lives under the ``confrec:`` prefix so an operator can find and size them with one SCAN.
"""

from __future__ import annotations

import hashlib

from confrec.tasks.job import canonical_conference

PREFIX = "confrec"


def job_done(job_id: str) -> str:
    """The outcome's stream entry id, set atomically with its XADD once a job's outcome is
    published (so the outcome can be read back)."""
    return f"{PREFIX}:done:{job_id}"


def job_state(job_id: str) -> str:
    """Hash of a job's delivery history: first_seen_at, deliveries, attempts, last_attempt_at."""
    return f"{PREFIX}:job:{job_id}"


def command_succeeded(conference_id: str, command_id: str) -> str:
    """Which job started a recording with this command_id on this conference.

    Hashed because conference ids may hold any character and be long.
    """
    return f"{PREFIX}:cmd:{_digest(conference_id + chr(0) + command_id)}"


def conference_jobs(conference_id: str) -> str:
    """Set of the jobs that started a recording on this conference id: the candidates
    ``tasks.matching`` assigns its recordings to (their starts are in their job state).
    Hashed like ``command_succeeded``."""
    return f"{PREFIX}:conf:{_digest(canonical_conference(conference_id))}:jobs"


def conference_recordings(conference_id: str) -> str:
    """Hash recording id → ``Recording`` JSON: each recording stored once, whichever of
    the webhook and the recordings list told of it first."""
    return f"{PREFIX}:conf:{_digest(canonical_conference(conference_id))}:recordings"


def conference_facts(conference_id: str) -> str:
    """Hash of what is known of a conference's end: ended_at, end_reason, end_source,
    occurred_at, final_at (when a list made past the grace found what it found)."""
    return f"{PREFIX}:conf:{_digest(canonical_conference(conference_id))}:facts"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


RATE_BUCKET = f"{PREFIX}:ratelimit:bucket"
"""Token bucket shared by every worker (fleet-wide CONFREC_RATE_LIMIT)."""

FLEET_PAUSE = f"{PREFIX}:ratelimit:pause"
"""Set with a TTL after a 429 with Retry-After: every worker holds its sends until it expires."""

RECONCILE_DUE = f"{PREFIX}:reconcile:due"
"""Sorted set of reconciliation work (``c:<conference id>``, ``n:<job id>``) by due time:
the schedule lives here, not in a process, so it survives every worker being down."""

RECONCILE_BUCKET = f"{PREFIX}:reconcile:bucket"
"""Token bucket of reconciliation's own request budget (CONFREC_RECONCILE_RATE)."""

RECONCILE_PAUSE = f"{PREFIX}:reconcile:pause"
"""Set with a TTL after a 429 to a reconciliation call: reconciliation holds its calls."""

WEBHOOKS_REFUSED = f"{PREFIX}:webhooks:refused"
"""Set with a TTL when serve answered a webhook 503 for want of TELNYX_PUBLIC_KEY, so a
waiting ``bulk --until-saved`` can say why nothing arrives."""

CONSUMERS = f"{PREFIX}:consumers"
"""Hash consumer id → queue of every channel fetching reliably (worker/broker/transport.py)."""

RECOVERED = f"{PREFIX}:recovered"
"""Counter: messages moved back to their queue from the in-flight list of a dead consumer."""


def api_rate_bucket(principal: str) -> str:
    """A principal's enqueue token bucket in ``confrec serve`` (CONFREC_API_RATE_LIMIT);
    it expires once refilled. A principal's name is never a token (an unnamed token's is
    a digest of it)."""
    return f"{PREFIX}:api-rate:{principal}"


UNDELIVERABLE = f"{PREFIX}:undeliverable"
"""List of messages that are not a job (undecodable, no usable id, another task), kept for an
operator to inspect (tasks/store/undeliverable.py writes it):
the newest ``UNDELIVERABLE_CAP``, for ``UNDELIVERABLE_TTL_S`` after the last one."""

UNDELIVERABLE_CAP = 1000
"""Messages ``UNDELIVERABLE`` keeps (newest first): a flood of garbage cannot fill Redis."""

UNDELIVERABLE_TTL_S = 7 * 24 * 3600
"""``UNDELIVERABLE`` expires this long after the last message set aside in it."""


def session(digest: str) -> str:
    """Hash of one browser session of ``confrec serve`` (principal, token digest), expiring
    after ``CONFREC_SESSION_TTL_S``; named by a digest of the session id, never the id."""
    return f"{PREFIX}:session:{digest}"


def inflight(consumer: str) -> str:
    """List of messages a consumer has fetched and not yet recorded as unacked."""
    return f"{PREFIX}:inflight:{consumer}"


def consumer_alive(consumer: str) -> str:
    """A consumer's heartbeat, renewed with a TTL; its expiry marks the consumer dead."""
    return f"{PREFIX}:alive:{consumer}"


def batch(batch_id: str) -> str:
    """Hash of a batch: created_at, created_ms, principal, batch_key, total, and one counter
    per list of ``batch_jobs`` (``lua/batch.lua`` keeps them, and builds this name as
    ``batch_key``)."""
    return f"{PREFIX}:batch:{batch_id}"


def batch_jobs(batch_id: str, name: str) -> str:
    """Sorted set of a batch's jobs in one list (``BATCH_LISTS``), scored by their place in
    the batch (seq), so a listing pages by cursor; ``all`` holds every job."""
    return f"{batch(batch_id)}:jobs:{name}"


def batch_label(batch_id: str, key: str, value: str) -> str:
    """Sorted set of a batch's jobs labelled ``key=value``, by seq (built by
    ``lua/ledger_enqueued.lua`` with ``redis.sha1hex``)."""
    digest = hashlib.sha1(f"{key}\0{value}".encode(), usedforsecurity=False).hexdigest()
    return f"{batch(batch_id)}:label:{digest}"


def batches_of(principal: str | None) -> str:
    """Sorted set of the batches a principal enqueued (``-``: the CLI and ``send_task``'s
    producers), by creation time in ms; entries older than the job TTL are trimmed."""
    return f"{PREFIX}:batches:by:{principal or '-'}"


BATCHES = f"{PREFIX}:batches"
"""Sorted set of every batch by creation time in ms (what an operator lists)."""

BATCH_LISTS = (
    "all",
    "queued",
    "running",
    "finished",
    "succeeded",
    "failed",
    "ok",
    "rejected",
    "retries_exhausted",
    "invalid",
    "already_done",
    "pending",
    "saved",
    "not_saved",
    "unknown",
    "ambiguous",
)
"""The lists a batch keeps (``batch_jobs``): by state, status, reason, ``already_done``
(sent nothing: its command had already succeeded) and recording state."""

RECORDING_STATES = f"{PREFIX}:recording-states"
"""Stream of batch jobs' recording state changes (fields job_id, batch, principal,
conference_id, state, reason, labels: JSON or ''), appended in the step that counts the
change in the job's batch; trimmed like the results stream. ``GET /v1/events`` reads it
beside the results."""

RECORDING_DIRTY = f"{PREFIX}:recording-states:dirty"
"""Set of conferences (``c:<id>``) and jobs (``j:<id>``) whose facts changed since their
batch jobs' recording states were last counted: marked in the step that changed them,
cleared by the step that counts them, so a process killed in between leaves work, not drift."""

FACTS_VERSION = "v"
"""Field HINCRBY'd in a conference's facts hash, and in a job's state hash, by each step
that changes what a recording state is computed from (``lua/recording_counts.lua``
applies states only if the versions it was computed at still stand)."""


def dirty_conference(conference_id: str) -> str:
    """``RECORDING_DIRTY``'s member for a conference (the form of the schedule's)."""
    return "c:" + canonical_conference(conference_id)


def dirty_job(job_id: str) -> str:
    """``RECORDING_DIRTY``'s member for one job (its name resolved; a duplicate)."""
    return "j:" + job_id


def job_followers(job_id: str) -> str:
    """Set of the batch jobs that sent nothing (``duplicate_of``) and show this job's
    recording state: counted again whenever this job's are."""
    return f"{job_state(job_id)}:followers"
