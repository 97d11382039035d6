"""The floor: a bare Celery task that only POSTs the record_start, nothing of confrec's.

What a user would write with Celery and httpx alone, on the same broker, pool,
concurrency, serializer, late acks and prefetch as ``confrec worker``, and with task
events as confrec's default has them — so confrec's rate over this one is the cost of
confrec's own per-job work (ledger, throttle, validation, outcome, metrics, logging), and
this one's over raw httpx is Celery's. It registers the task under confrec's name and
reads the same kwargs, so the very same messages (confrec's Producer) feed both.

Run as ``celery -A bench.bare worker`` (``Rig.bare_worker``); reads ``BARE_BROKER_URL``,
``BARE_QUEUE``, ``BARE_CONCURRENCY``, ``TELNYX_BASE_URL``, ``TELNYX_API_KEY``. It keeps no
results: the bench counts the simulator's requests.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
from celery import Celery, Task
from celery.signals import after_setup_logger

from confrec.tasks.job import TASK_NAME
from confrec.tasks.telnyx import record_start_path

#: What the floor shares with confrec's app: what decides how Celery itself moves a
#: message, nothing that is confrec's (its transport, logging hooks, checks). Written out,
#: not read from ``confrec.worker.app``, whose signal handlers would then run here too;
#: ``differences`` lets the bench check the two still agree.
SHARED_CONF: dict[str, Any] = {
    "task_serializer": "json",
    "accept_content": ["json"],
    "task_ignore_result": True,
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "worker_send_task_events": False,
}

app = Celery("bare", broker=os.environ.get("BARE_BROKER_URL", "redis://127.0.0.1:1/0"))
app.conf.update(
    SHARED_CONF,
    task_default_queue=os.environ.get("BARE_QUEUE", "bare"),
    broker_connection_retry_on_startup=True,
)
_concurrency = int(os.environ.get("BARE_CONCURRENCY", "16"))
_http = httpx.Client(
    base_url=os.environ.get("TELNYX_BASE_URL", "http://127.0.0.1:1"),
    headers={
        "Authorization": f"Bearer {os.environ.get('TELNYX_API_KEY', '')}",
        "Accept": "application/json",
    },
    timeout=httpx.Timeout(10.0, connect=3.0),
    limits=httpx.Limits(max_connections=_concurrency, max_keepalive_connections=_concurrency),
)


@after_setup_logger.connect
def _no_per_task_lines(**_: Any) -> None:
    """Celery's two INFO lines per task (received, succeeded) off, as confrec has them."""
    for chatty in ("celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


@app.task(name=TASK_NAME, bind=True)
def post(self: Task[Any, Any], /, **job: Any) -> int:
    """POST the job's request body under its command_id; the status code, nothing kept."""
    body = {k: v for k, v in job.items() if k != "conference_id" and v is not None}
    body.setdefault("command_id", str(self.request.id))
    return _http.post(record_start_path(job["conference_id"]), json=body).status_code


def differences(conf: Any) -> dict[str, tuple[Any, Any]]:
    """Where confrec's app configuration ``conf`` differs from the floor's: {key: (ours,
    confrec's)}; the bench refuses to compare the two while this is not empty."""
    return {k: (v, conf[k]) for k, v in SHARED_CONF.items() if conf[k] != v}
