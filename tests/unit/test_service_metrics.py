"""serve's metrics registry: the event-stream gauge is there from the start, and a scrape
still answers while Redis does not (the batches in flight are left out of it)."""

from __future__ import annotations

import redis
from prometheus_client import generate_latest
from redis.backoff import NoBackoff
from redis.retry import Retry

from confrec.service.metrics import ServiceMetrics
from confrec.tasks.store.batches import BatchStore
from confrec.worker.local.processes import free_port


def test_a_scrape_answers_without_redis_and_leaves_the_batches_out() -> None:
    nothing = redis.Redis(port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    text = generate_latest(ServiceMetrics(BatchStore(nothing)).registry).decode()
    assert "confrec_event_stream_clients 0.0" in text
    assert "confrec_batches_in_flight" not in text
    assert "confrec_batches_in_flight" not in generate_latest(ServiceMetrics().registry).decode()
