"""The Celery task ``confrec.record_start`` and the per-process parts it runs with.

The task only unpacks the request; its body is ``RecordStartHandler.handle``. Each worker
process builds its own parts (its own pooled HTTP client and Redis connections) from the
settings on first use, after any fork, so no socket is shared across processes.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from celery import Task, shared_task

from confrec.config.settings import MISSING_API_KEY, Settings, get_settings
from confrec.tasks.job import (
    HEADER_BATCH,
    HEADER_ENQUEUED_AT,
    HEADER_RAW_JOB_ID,
    HEADER_REFUSED,
    HEADER_RETRY_OF,
    TASK_NAME,
    JobFailed,
    Outcome,
)
from confrec.tasks.policy import FaultPolicy, RetryPolicy
from confrec.tasks.record_start import RecordStartHandler
from confrec.tasks.redelivery import FaultHandler, requeue_after
from confrec.tasks.store.throttle import FleetThrottle
from confrec.tasks.telnyx import TelnyxClient
from confrec.worker.broker.clients import state_client
from confrec.worker.producing import create_ledger


@dataclass(frozen=True)
class ProcessParts:
    """What one worker process builds once: the handler and what settles its faults."""

    handler: RecordStartHandler
    faults: FaultHandler
    dead_letter_queue: str | None
    """Where the broker puts messages past its delivery limit (RabbitMQ), else None."""


def build_parts(settings: Settings) -> ProcessParts:
    """The parts of a worker process, from its settings (needs TELNYX_API_KEY)."""
    if settings.telnyx_api_key is None:
        raise RuntimeError(MISSING_API_KEY)
    client = state_client(settings)
    ledger = create_ledger(settings, client)
    handler = RecordStartHandler(
        telnyx=TelnyxClient(
            settings.telnyx_base_url,
            settings.telnyx_api_key,
            timeout=settings.http_timeout,
            connect_timeout=settings.http_connect_timeout,
            max_connections=max(settings.concurrency, 10),
        ),
        ledger=ledger,
        throttle=FleetThrottle(client, rate=settings.rate_limit, burst=settings.rate_burst),
        policy=RetryPolicy(
            max_attempts=settings.retry_max_attempts,
            deadline_s=settings.retry_deadline,
            backoff_initial_s=settings.retry_backoff_initial,
            backoff_max_s=settings.retry_backoff_max,
        ),
        delivery_limit=settings.delivery_limit,
        clock_skew_s=settings.clock_skew_s,
        poll_s=settings.reconcile_poll_s,
    )
    faults = FaultHandler(ledger, FaultPolicy(max_faulty_deliveries=settings.max_faulty_deliveries))
    dead_letters = settings.dead_letter_queue if settings.broker_is_amqp else None
    return ProcessParts(handler, faults, dead_letters)


_parts: dict[int, ProcessParts] = {}
_parts_lock = threading.Lock()


def process_parts() -> ProcessParts:
    """This process's parts, built on first use (after fork, so sockets aren't shared)."""
    pid = os.getpid()
    with _parts_lock:
        if pid not in _parts:
            _parts[pid] = build_parts(get_settings())
        return _parts[pid]


def _header(request: Any, name: str) -> str | None:
    """A confrec header, or None: another service may omit it or send another type."""
    value = getattr(request, name, None)
    return value if isinstance(value, str) and value else None


def _dead_lettered(request: Any, dead_letter_queue: str | None) -> bool:
    """Whether this delivery comes from the dead-letter queue (RabbitMQ moved it there
    after its delivery limit; the message is otherwise unchanged)."""
    info = getattr(request, "delivery_info", None) or {}
    return dead_letter_queue is not None and info.get("routing_key") == dead_letter_queue


def _finished(outcome: Outcome | None) -> str | None:
    """The task's result once the outcome is published, starting with its reason like
    ``JobFailed``'s text (``ok (attempts 1)``, ``ok: already done by JOB (attempts 0)``):
    a ``failed`` one raises ``JobFailed`` (FAILURE in Flower; acked all the same, never
    redelivered)."""
    if outcome is None:
        return None
    if outcome.status == "failed":
        raise JobFailed.of(outcome)
    done = f": already done by {outcome.duplicate_of}" if outcome.duplicate_of else ""
    return f"{outcome.reason}{done} (attempts {outcome.attempts})"


class RecordStartTask(Task[Any, Any]):
    """The task's class: its requests send an expected failure (``throws``) to monitors
    without a traceback (``confrec.worker.task_request``, named as Celery resolves it)."""

    Request = "confrec.worker.task_request:ExpectedFailureRequest"


# Late acks, reject on loss: the app's defaults. ``throws``: logged without a traceback.
@shared_task(name=TASK_NAME, bind=True, base=RecordStartTask, throws=(JobFailed,))
def record_start(self: RecordStartTask, *args: Any, **kwargs: Any) -> str | None:
    """Start the recording of one conference; kwargs are the job's fields.

    Before an outcome is published nothing but ``Reject`` leaves this function, so no
    delivery is acked without one (see ``confrec.tasks.redelivery``); after, only
    ``JobFailed`` does, for a ``failed`` outcome.
    """
    if args:
        kwargs = {**kwargs, "args": list(args)}  # refused by validation: kwargs only
    job_id = str(self.request.id)  # a safe id: confrec.worker.consumer saw to it
    came = {
        "enqueued_at": _header(self.request, HEADER_ENQUEUED_AT),
        "batch": _header(self.request, HEADER_BATCH),
        "raw_job_id": _header(self.request, HEADER_RAW_JOB_ID),
        "retry_of": _header(self.request, HEADER_RETRY_OF),
    }
    try:
        parts = process_parts()
    except Exception as exc:  # this process cannot work: give the job to another
        requeue_after(FaultPolicy().backoff_max_s, f"worker not ready ({type(exc).__name__})")
    refused = _header(self.request, HEADER_REFUSED)
    try:
        if refused is not None:  # the consumer found that it cannot run
            outcome = parts.handler.refuse(job_id, refused, **came)
        elif _dead_lettered(self.request, parts.dead_letter_queue):
            outcome = parts.faults.dead_lettered(job_id, kwargs, **came)
        else:
            outcome = parts.handler.handle(job_id, kwargs, **came)
    except Exception as exc:
        outcome = parts.faults.settle(job_id, kwargs, exc, **came)
    return _finished(outcome)
