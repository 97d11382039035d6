"""``CONFREC_METRICS_PORT``: the worker's ``/metrics``, counted in every pool process.

With ``--pool prefork`` the jobs run in child processes, each with its own counters, so
prometheus_client's multiprocess mode is on whatever the pool: every process writes its
values to files in one fresh directory and the main process serves their sum. The mode
is chosen when prometheus_client is first imported, so ``serve_worker_metrics`` runs
before anything in this process imports it (the children inherit it through fork).
Beside the sum, the queue's depth is read from the broker at each scrape (any broker),
and each consumer group of the results stream's lag and loss from the state Redis.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kombu
import redis
from amqp.exceptions import AMQPError

from confrec.config.settings import Settings
from confrec.tasks.store.stream_lag import GroupLag

log = logging.getLogger(__name__)

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


class ResultsGroups:
    """Per consumer group of the results stream: ``confrec_results_group_behind`` (entries
    it has not read), ``_pending`` (read, unacknowledged) and ``_lost`` (trimmed before it
    read them: ``confrec.tasks.store.stream_lag``), with a warning logged once per loss
    seen. Left out of a scrape while Redis fails."""

    def __init__(self, read: Callable[[], list[GroupLag]]) -> None:
        self._read = read
        self._warned: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            lags = self._read()
        except (redis.RedisError, OSError):
            return
        families = {
            name: GaugeMetricFamily(f"confrec_results_group_{name}", text, labels=["group"])
            for name, text in [
                ("behind", "Results-stream entries a consumer group has not read yet."),
                ("pending", "Entries a consumer group read and has not acknowledged."),
                ("lost", "Entries trimmed from the results stream before the group read them."),
            ]
        }
        for lag in lags:
            for name, value in [("behind", lag.behind), ("pending", lag.pending)]:
                if value is not None:
                    families[name].add_metric([lag.group], value)
            if lag.lost is not None:
                families["lost"].add_metric([lag.group], lag.lost)
                self._warn(lag.group, lag.lost)
        yield from families.values()

    def _warn(self, group: str, lost: int) -> None:
        if lost and self._warned.get(group) != lost:
            log.warning(
                "consumer group %s of the results stream lost %d outcome(s) to trimming "
                "before reading them (CONFREC_RESULTS_RETENTION_S, CONFREC_RESULTS_MAXLEN)",
                group,
                lost,
            )
        self._warned[group] = lost


def serve_worker_metrics(settings: Settings, port: int) -> None:
    """Multiprocess mode in a new directory (removed at exit, or by the next worker's
    start after a SIGKILL: ``metrics_directory``), then ``/metrics`` on ``port`` of
    ``CONFREC_METRICS_HOST`` (loopback unless told otherwise) from a thread of this
    process. Raises OSError when the port is taken."""
    if "prometheus_client" in sys.modules:  # too late: the mode is already chosen
        raise RuntimeError("prometheus_client was imported before the metrics were set up")
    directory = metrics_directory()
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    os.environ[MULTIPROC_ENV] = directory
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    registry.register(QueueDepth(_depth_reader(settings)))
    registry.register(ResultsGroups(_groups_reader(settings)))
    start_http_server(port, addr=settings.metrics_host, registry=registry)


def metrics_directory() -> str:
    """A new folder ``<tmp>/confrec-metrics-<uid>/<pid>-<start>`` for this process, after
    removing the folders of the workers of this user that are no longer running: a worker
    killed with SIGKILL never ran its ``atexit``. A parent that is not this user's own
    folder is left alone (a folder of its own then, as before)."""
    parent = os.path.join(tempfile.gettempdir(), f"confrec-metrics-{os.getuid()}")
    os.makedirs(parent, mode=0o700, exist_ok=True)
    info = os.lstat(parent)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return tempfile.mkdtemp(prefix="confrec-metrics-")
    for name in os.listdir(parent):
        pid, _, started = name.partition("-")
        if pid.isdigit() and not _running(int(pid), started):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    directory = os.path.join(parent, f"{os.getpid()}-{_start_stamp(os.getpid())}")
    os.mkdir(directory, 0o700)
    return directory


def _start_stamp(pid: int) -> str:
    """When the process started, in clock ticks since boot (field 22 of /proc/PID/stat):
    with the pid it names one process, even once the pid is reused. "0" without /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    return text.rpartition(")")[2].split()[19]  # fields after the command name start at 3


def _running(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone's process: running
        return True
    return started == "0" or _start_stamp(pid) in (started, "0")


def _depth_reader(settings: Settings) -> Callable[[], int]:
    if settings.broker_is_amqp:
        return lambda: _amqp_queue_depth(settings)
    from confrec.worker.broker.clients import broker_client
    from confrec.worker.broker.reading import queue_depth

    client = broker_client(settings, socket_timeout=2.0)
    return lambda: queue_depth(client, settings.queue)


def _groups_reader(settings: Settings) -> Callable[[], list[GroupLag]]:
    from confrec.tasks.store.stream_lag import group_lags
    from confrec.worker.broker.clients import redis_client

    client = redis_client(
        settings.state_url, socket_timeout=2.0, master_name=settings.sentinel_master
    )
    return lambda: group_lags(client, settings.results_stream)


def _amqp_queue_depth(settings: Settings) -> int:
    """Messages ready in the queue, from a passive declare on a short-lived connection
    (AMQP tells no more: unacknowledged counts are the management API's)."""
    bounded = {"read_timeout": 2.0, "write_timeout": 2.0}  # a stalled broker cannot hang a scrape
    with kombu.Connection(
        settings.broker_url, connect_timeout=2.0, transport_options=bounded
    ) as conn:
        channel: Any = conn.default_channel  # py-amqp's channel; kombu's stubs type less
        return int(channel.queue_declare(settings.queue, passive=True).message_count)
