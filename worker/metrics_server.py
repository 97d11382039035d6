"""``CONFREC_METRICS_PORT``: the worker's ``/metrics``, counted in every pool process.

With ``--pool prefork`` the jobs run in child processes, each with its own counters, so
prometheus_client's multiprocess mode is on whatever the pool: every process writes its
values to files in one fresh directory and the main process serves their sum. The mode
is chosen when prometheus_client is first imported, so ``serve_worker_metrics`` runs
before anything in this process imports it (the children inherit it through fork).
Beside the sum, the queue's depth is read from the broker at each scrape (any broker).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import kombu
import redis
from amqp.exceptions import AMQPError

from confrec.config.settings import Settings

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

#: prometheus_client reads this when it is first imported.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class QueueDepth:
    """``confrec_queue_depth``: jobs waiting in the queue now (every worker reports the
    same figure; a dashboard takes the max). Left out of a scrape while the broker fails."""

    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            depth = self._read()
        except (redis.RedisError, OSError, AMQPError):
            return
        yield GaugeMetricFamily("confrec_queue_depth", "Jobs waiting in the queue.", depth)


def serve_worker_metrics(settings: Settings, port: int) -> None:
    """Multiprocess mode in a new directory (removed at exit), then ``/metrics`` on
    ``port`` from a thread of this process. Raises OSError when the port is taken."""
    if "prometheus_client" in sys.modules:  # too late: the mode is already chosen
        raise RuntimeError("prometheus_client was imported before the metrics were set up")
    directory = tempfile.mkdtemp(prefix="confrec-metrics-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    os.environ[MULTIPROC_ENV] = directory
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    registry.register(QueueDepth(_depth_reader(settings)))
    start_http_server(port, registry=registry)


def _depth_reader(settings: Settings) -> Callable[[], int]:
    if settings.broker_is_amqp:
        return lambda: _amqp_queue_depth(settings)
    from confrec.worker.broker.clients import broker_client
    from confrec.worker.broker.reading import queue_depth

    client = broker_client(settings, socket_timeout=2.0)
    return lambda: queue_depth(client, settings.queue)


def _amqp_queue_depth(settings: Settings) -> int:
    """Messages ready in the queue, from a passive declare on a short-lived connection
    (AMQP tells no more: unacknowledged counts are the management API's)."""
    bounded = {"read_timeout": 2.0, "write_timeout": 2.0}  # a stalled broker cannot hang a scrape
    with kombu.Connection(
        settings.broker_url, connect_timeout=2.0, transport_options=bounded
    ) as conn:
        channel: Any = conn.default_channel  # py-amqp's channel; kombu's stubs type less
        return int(channel.queue_declare(settings.queue, passive=True).message_count)
