"""What the service is built from, handed in by the runtime (``confrec.worker.serve``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from confrec.service.auth import BearerTokens
from confrec.service.metrics import ServiceMetrics
from confrec.service.signature import WebhookVerifier
from confrec.tasks.batch_retry import BatchRetry
from confrec.tasks.publishing.producer import Producer
from confrec.tasks.recording_counts import RecordingCounts
from confrec.tasks.store.api_rate import ApiRateLimit
from confrec.tasks.store.batches import BatchStore
from confrec.tasks.store.conferences import ConferenceStore
from confrec.tasks.store.event_feed import EventFeed
from confrec.tasks.store.ledger import JobLedger
from confrec.tasks.store.sessions import SessionStore


@dataclass(frozen=True)
class ServiceParts:
    producer: Producer
    ledger: JobLedger
    conferences: ConferenceStore
    batches: BatchStore
    tokens: BearerTokens
    verifier: WebhookVerifier | None
    """None without TELNYX_PUBLIC_KEY: the webhook endpoint then answers 503."""
    checks: Mapping[str, Callable[[], object]]
    """``/healthz``: each raises when its dependency (broker, Redis) does not answer."""
    metrics: ServiceMetrics
    rate_limit: ApiRateLimit | None = None
    """Each principal's enqueue rate (CONFREC_API_RATE_LIMIT); None: no limit."""
    retries: BatchRetry | None = None
    """``POST /v1/batches/{id}/retry``; None: that route answers 503."""
    recording_counts: RecordingCounts | None = None
    """Counts a conference's batch jobs' recording states after a webhook stored a fact
    (None: left to the workers' drain)."""
    # GET /v1/events and the browser's session (None: those routes answer 503)
    events: EventFeed | None = None
    events_max_clients: int = 100
    events_heartbeat_s: float = 15.0
    sessions: SessionStore | None = None
