"""The service's Prometheus metrics, on a registry of its own (served at ``/metrics``).

A registry per app, not the global one, so two services in one process (tests) never
share or clash. Labels are route templates and event types, never ids or tokens.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.event_clients = Gauge(
            "confrec_event_stream_clients",
            "Event streams (GET /v1/events) open now.",
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
