"""The service's Prometheus metrics, on a registry of its own (served at ``/metrics``).

A registry per app, not the global one, so two services in one process (tests) never
share or clash. Labels are route templates and event types, never ids or tokens. The
batches in flight are read from Redis at each scrape (``BatchesInFlight``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from confrec.tasks.store.batches import BatchStore

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)

BATCHES_IN_FLIGHT = "confrec_batches_in_flight"
#: ``confrec_batches_in_flight`` looks at this many of the newest batches (one index
#: read and one pipelined read of their counts per scrape, whatever the jobs number).
BATCHES_SCANNED = 1000


class BatchesInFlight:
    """``confrec_batches_in_flight``: of the newest ``BATCHES_SCANNED`` batches (every
    principal's), those with a job still queued or running. Left out of a scrape while
    Redis fails (the scrape itself still answers)."""

    def __init__(self, store: BatchStore, newest: int = BATCHES_SCANNED) -> None:
        self._store = store
        self._newest = newest

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            ids = self._store.batches(None, limit=self._newest).items
            count = sum(1 for batch in self._store.summaries(ids) if batch.in_flight)
        except (redis.RedisError, OSError) as exc:
            log.warning("confrec_batches_in_flight left out of a scrape: %s", type(exc).__name__)
            return
        yield GaugeMetricFamily(
            BATCHES_IN_FLIGHT,
            f"Batches with a job queued or running, of the newest {self._newest}.",
            count,
        )


class ServiceMetrics:
    def __init__(self, batches: BatchStore | None = None) -> None:
        self.registry = CollectorRegistry()
        if batches is not None:
            self.registry.register(BatchesInFlight(batches))
        self.event_clients = Gauge(
            "confrec_event_stream_clients",
            "Clients connected to the event stream (GET /v1/events) now.",
            registry=self.registry,
        )
        self.requests = Counter(
            "confrec_api_requests",
            "HTTP requests answered, by route template and status code.",
            ["route", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "confrec_api_request_duration_seconds",
            "Time to answer, by route template.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.jobs_enqueued = Counter(
            "confrec_api_jobs_enqueued",
            "Jobs enqueued through the HTTP service.",
            registry=self.registry,
        )
        self.webhooks = Counter(
            "confrec_webhooks",
            "Telnyx webhooks, by event type and what became of them "
            "(stored, duplicate, ignored: another event type, rejected: bad signature, "
            "too_large: a body over the cap, refused unread).",
            ["event_type", "result"],
            registry=self.registry,
        )


class RequestMetrics:
    """ASGI middleware counting every answer by route template and status, and timing it.

    Plain ASGI rather than ``@app.middleware("http")``: that wraps each request in a
    second task and stream, which costs a webhook's answer more than its own work.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # The router wrote the matched route into the scope; unmatched paths share a label.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.duration.labels(route).observe(time.perf_counter() - started)
