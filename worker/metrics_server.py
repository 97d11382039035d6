"""``CONFREC_METRICS_PORT``: the worker's ``/metrics``, counted in every pool process.

With ``--pool prefork`` the jobs run in child processes, each with its own counters, so
prometheus_client's multiprocess mode is on whatever the pool: every process writes its
values to files in one fresh directory and the main process serves their sum. The mode
is chosen when prometheus_client is first imported, so ``serve_worker_metrics`` runs
before anything in this process imports it (the children inherit it through fork).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

#: prometheus_client reads this when it is first imported.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve_worker_metrics(port: int) -> None:
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
    start_http_server(port, registry=registry)
