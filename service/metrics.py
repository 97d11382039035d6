"""The service's Prometheus metrics, on a registry of its own (served at ``/metrics``).

A registry per app, not the global one, so two services in one process (tests) never
share or clash. Labels are route templates and event types, never ids or tokens.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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
            "(stored, duplicate, ignored: another event type, rejected: bad signature).",
            ["event_type", "result"],
            registry=self.registry,
        )
