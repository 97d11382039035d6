"""Every Redis key confrec writes, named in one place (as arq does).

The results stream's name is configurable (``CONFREC_RESULTS_STREAM``); every other key
lives under the ``confrec:`` prefix so an operator can find and size them with one SCAN.
"""

from __future__ import annotations

import hashlib

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


def conference_job(conference_id: str) -> str:
    """The job most recently started on this conference id, "job_id command_id": how a
    ``conference.recording.saved`` webhook finds its job. Hashed like ``command_succeeded``."""
    return f"{PREFIX}:conf:{_digest(conference_id)}"


def job_recordings(job_id: str) -> str:
    """List of the ``conference.recording.saved`` events (``data`` JSON) matched to a job."""
    return f"{PREFIX}:recordings:{job_id}"


def webhook_seen(event_id: str) -> str:
    """Set once per webhook ``data.id``: Telnyx may deliver an event more than once."""
    return f"{PREFIX}:webhook:{_digest(event_id)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


RATE_BUCKET = f"{PREFIX}:ratelimit:bucket"
"""Token bucket shared by every worker (fleet-wide CONFREC_RATE_LIMIT)."""

FLEET_PAUSE = f"{PREFIX}:ratelimit:pause"
"""Set with a TTL after a 429 with Retry-After: every worker holds its sends until it expires."""

CONSUMERS = f"{PREFIX}:consumers"
"""Hash consumer id → queue of every channel fetching reliably (worker/broker/transport.py)."""

RECOVERED = f"{PREFIX}:recovered"
"""Counter: messages moved back to their queue from the in-flight list of a dead consumer."""

UNDELIVERABLE = f"{PREFIX}:undeliverable"
"""List of raw messages kombu could not even decode, kept for an operator to inspect."""


def inflight(consumer: str) -> str:
    """List of messages a consumer has fetched and not yet recorded as unacked."""
    return f"{PREFIX}:inflight:{consumer}"


def consumer_alive(consumer: str) -> str:
    """A consumer's heartbeat, renewed with a TTL; its expiry marks the consumer dead."""
    return f"{PREFIX}:alive:{consumer}"
