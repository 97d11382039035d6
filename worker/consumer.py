"""The worker's Celery consumer: each message of the job queue is judged before Celery's
task handler, its strategy or any log line sees it (``confrec.worker.inbound``).

Celery trusts what it receives: a body that cannot be unpacked into args and kwargs
raises out of its consumer and the worker exits; an unknown content type, a bad ETA or
a missing task header is rejected, i.e. dropped; the task id goes into log lines and, in
confrec, Redis keys. Here instead:

- a message that names ``confrec.record_start`` and has an id runs as a job under a safe
  id; one that cannot run (its body is not JSON, another content type, wrong shapes, or
  Celery itself refused it) is rewritten into an empty job carrying the header
  ``confrec_refused``, which the task publishes as exactly one ``invalid`` outcome;
- anything else is set aside (``tasks.store.undeliverable``), counted, and acked;
- the worker keeps consuming.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import redis
from celery.worker.consumer.consumer import Consumer
from vine import promise

from confrec.config.settings import get_settings
from confrec.tasks.job import (
    HEADER_BATCH,
    HEADER_ENQUEUED_AT,
    HEADER_RAW_JOB_ID,
    HEADER_REFUSED,
    HEADER_RETRY_OF,
    TASK_NAME,
)
from confrec.tasks.store import keys, undeliverable
from confrec.worker import inbound
from confrec.worker.broker.clients import state_client

log = logging.getLogger(__name__)

#: Headers only this consumer may set: removed from every message it receives.
RESERVED = (HEADER_REFUSED, HEADER_RAW_JOB_ID)
_EMPTY_JOB: tuple[list[Any], dict[str, Any], dict[str, Any]] = ([], {}, {})


class GatedConsumer(Consumer):
    """Celery's consumer with ``judge`` in front of its task handler."""

    connection_errors: tuple[type[BaseException], ...]
    _state: redis.Redis | None = None

    def create_task_handler(self, promise: Any = promise) -> Callable[[Any], None]:
        celery_handler: Callable[[Any], None] = super().create_task_handler(promise)

        def on_message(message: Any) -> None:
            self._take(message, celery_handler)

        self._celery_handler = celery_handler
        return on_message

    def _take(self, message: Any, celery_handler: Callable[[Any], None]) -> None:
        verdict = inbound.judge(message)
        if verdict.job_id is None:
            self._set_aside(message, verdict.problem or "no_id")
            return
        rewrite(message, verdict)
        try:
            celery_handler(message)
        except self.connection_errors:
            raise
        except Exception as exc:
            if not message.acknowledged:
                self._refuse(message, f"Celery could not take it ({type(exc).__name__})")

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        """Celery refused the message (e.g. an ETA that is not a date): not dropped."""
        self._refuse(message, f"Celery refused it ({type(exc).__name__})")

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._refuse(message, "body is not valid JSON")

    def _refuse(self, message: Any, problem: str) -> None:
        """Hand the message on once more as an empty job that ends ``invalid``; a message
        that Celery refuses even so is set aside."""
        headers = message.headers
        if HEADER_REFUSED in headers or not isinstance(headers.get("id"), str):
            self._set_aside(message, "refused")
            return
        log.warning("job %s: the message cannot run: %s", headers["id"], problem)
        raw = headers.get(HEADER_RAW_JOB_ID)
        rewrite(message, inbound.Inbound(headers["id"], raw, problem))
        self._celery_handler(message)

    def _set_aside(self, message: Any, reason: str) -> None:
        queue = inbound.escaped(str((message.delivery_info or {}).get("routing_key", "")))
        item = undeliverable.entry(reason, queue, message.headers, message.body)
        try:
            undeliverable.keep(self._state_client(), item, reason)
        except redis.RedisError as exc:  # not acked: it comes back once Redis answers
            log.error("a message could not be set aside (%s); requeued", type(exc).__name__)
            message.reject_log_error(log, self.connection_errors, requeue=True)
            return
        log.error(
            "a message of queue %s is not a job (%s): kept in %s", queue, reason, keys.UNDELIVERABLE
        )
        message.ack_log_error(log, self.connection_errors)

    def _state_client(self) -> redis.Redis:
        if self._state is None:
            self._state = state_client(get_settings())
        return self._state


def rewrite(message: Any, verdict: inbound.Inbound) -> None:
    """The message as the task may see it: reserved headers dropped, the safe id, and
    for a message that cannot run, an empty job with the reason in ``confrec_refused``."""
    assert verdict.job_id is not None
    headers = {k: v for k, v in message.headers.items() if k not in RESERVED}
    body = verdict.body
    if verdict.problem is not None:
        kept = (HEADER_ENQUEUED_AT, HEADER_BATCH, HEADER_RETRY_OF)
        headers = {k: headers[k] for k in kept if isinstance(headers.get(k), str)}
        headers |= {"task": TASK_NAME, HEADER_REFUSED: verdict.problem}
        body = _EMPTY_JOB
    elif verdict.protocol_1:
        headers = {"task": TASK_NAME}
    else:
        body = None  # protocol 2 and runnable: the body stays as it came
    if verdict.raw_job_id is not None or verdict.problem is not None or verdict.protocol_1:
        headers |= {"id": verdict.job_id, "root_id": verdict.job_id}
    if verdict.raw_job_id is not None:
        headers[HEADER_RAW_JOB_ID] = verdict.raw_job_id
    message.headers = headers
    if body is not None:
        message.body = json.dumps(body).encode()
        message.content_type, message.content_encoding = inbound.JSON, "utf-8"
        message._decoded_cache = None
