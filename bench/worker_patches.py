"""PROTOTYPES, bench only — worker-side changes measured by monkeypatching a worker.

Applied by bench/patched_worker.py before ``confrec worker`` starts; confrec never
imports this. Each is a candidate source change, timed side by side with the real one:

* ``no-events``: ``worker_send_task_events=False`` in ``confrec.worker.app.create_app``. Flower
  still sees jobs: it asks the workers to enable events itself while it runs (see
  docs/operations.md); the results stream is unaffected.
* ``quiet-logs``: confrec's one INFO line per outcome (``confrec.tasks.record_start``) at
  WARNING, i.e. logged at DEBUG. (Celery's per-task lines are already off in the source.)
* ``max-conns``: kombu's Redis channel pool sized for the pool's concurrency
  (``broker_transport_options["max_connections"]``, kombu's default is 10): with 64
  greenlets acking at once the shipped worker logs "Couldn't ack ... MaxConnectionsError".
* ``gevent``: handled in patched_worker itself (monkeypatch before any import).

(Two earlier prototypes, 3 Redis round trips per job instead of 6 and Celery's per-task
log lines off, have since landed in the source; docs/benchmarks.md has their numbers.)
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger

MAX_CONNECTIONS = 256
JOB_LOGGERS = ("tasks.record_start",)


def _configured(original: Any, **conf: Any) -> Any:
    """``create_app`` wrapped so the app gets these settings (dicts are merged)."""

    def create_app(*args: Any, **kwargs: Any) -> Celery:
        app: Celery = original(*args, **kwargs)
        for key, value in conf.items():
            if isinstance(value, dict):
                value = {**app.conf[key], **value}
            app.conf[key] = value
        return app

    return create_app


def _quiet(**_: Any) -> None:
    for name in JOB_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def apply(names: list[str]) -> None:
    """Apply the named prototypes in this (worker) process."""
    unknown = set(names) - {"no-events", "quiet-logs", "max-conns", "gevent"}
    if unknown:
        raise SystemExit(f"bench.worker_patches: unknown prototype(s) {sorted(unknown)}")
    if "quiet-logs" in names:
        after_setup_logger.connect(_quiet, weak=False)
    if "no-events" in names:
        worker.app.create_app = _configured(worker.app.create_app, worker_send_task_events=False)
    if "max-conns" in names:
        options = {"max_connections": MAX_CONNECTIONS}
        worker.app.create_app = _configured(worker.app.create_app, broker_transport_options=options)
