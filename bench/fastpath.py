"""PROTOTYPE, bench only — a faster drop-in body for ``Producer.enqueue_many``.

Nothing here is used by confrec; the bench times it beside the shipped Producer and
monkeypatches it in (``patched``) to measure ``run_bulk`` with it.

``raw_lpush``: Celery still builds each message (``app.amqp.as_task_v2``, as the shipped
Producer does), but the kombu Redis envelope (JSON, base64 body, delivery info) is built
here and LPUSHed through one redis-py pipeline per chunk — no kombu ``Producer.publish``
per message (its prepare/serialize/declare/batch layers cost more than the message).
``same_messages`` checks it puts the very message the shipped Producer puts (ids and
timestamps aside), so workers run it unchanged; re-run it whenever either side changes.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from celery import Celery
from celery.utils.nodenames import anon_nodename
from kombu.exceptions import OperationalError

from confrec.tasks.job import HEADER_BATCH, HEADER_ENQUEUED_AT, TASK_NAME, RecordStartJob, utc_now
from confrec.tasks.producer import Enqueued, EnqueueError, Producer, _chunks, fix_command_id

_ORIGIN = anon_nodename()


def envelope(
    app: Celery, queue: str, job_id: str, kwargs: dict[str, Any], headers: dict[str, str]
) -> str:
    """What kombu's Redis transport LPUSHes for this task message (protocol 2, JSON)."""
    message = app.amqp.as_task_v2(
        job_id,
        TASK_NAME,
        kwargs=kwargs,
        origin=_ORIGIN,
        argsrepr="()",
        kwargsrepr=repr(kwargs),
    )
    body = base64.b64encode(json.dumps(message.body).encode()).decode()
    return json.dumps(
        {
            "body": body,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {**message.headers, HEADER_ENQUEUED_AT: utc_now(), **headers},
            "properties": {
                **message.properties,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    )


def raw_lpush(
    self: Producer,
    jobs: Iterable[RecordStartJob],
    *,
    batch: str | None = None,
    batch_key: str | None = None,
    on_sent: Callable[[int], None] | None = None,
    keep: bool = True,
) -> list[Enqueued]:
    extra = {HEADER_BATCH: batch} if batch else {}
    client = redis.Redis.from_url(self.app.conf.broker_url)
    sent: list[Enqueued] = []
    count = 0
    try:
        with self.app.producer_or_acquire() as producer:  # declares the queue, as shipped
            producer.maybe_declare(self.app.amqp.queues[self.queue])
        with client.pipeline(transaction=False) as pipe:
            for chunk in _chunks(jobs, self.chunk_size):
                for job in chunk:
                    fixed = fix_command_id(job, batch_key)
                    job_id = str(uuid.uuid4())
                    kwargs = fixed.task_kwargs()
                    pipe.lpush(self.queue, envelope(self.app, self.queue, job_id, kwargs, extra))
                    if keep:
                        sent.append(Enqueued(job_id, fixed.command_id or ""))
                pipe.execute()
                count += len(chunk)
                if on_sent is not None:
                    on_sent(count)
    except (OperationalError, redis.RedisError, OSError) as exc:
        raise EnqueueError(f"{type(exc).__name__}: {exc}", count) from exc
    finally:
        client.close()
    return sent


PROTOTYPES = {"raw_lpush": raw_lpush}


@contextmanager
def patched(name: str) -> Iterator[None]:
    """PROTOTYPE monkeypatch: ``Producer.enqueue_many`` is prototype ``name`` inside."""
    original = Producer.enqueue_many
    Producer.enqueue_many = PROTOTYPES[name]  # type: ignore[method-assign]
    try:
        yield
    finally:
        Producer.enqueue_many = original  # type: ignore[method-assign]


def _normalized(raw: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    for key in ("id", "root_id"):
        message["headers"][key] = "<job id>"
    message["headers"][HEADER_ENQUEUED_AT] = "<now>"
    message["headers"]["origin"] = "<host/pid>"
    message["properties"]["correlation_id"] = "<job id>"
    message["properties"]["delivery_tag"] = "<tag>"
    return message


def same_messages(url: str) -> dict[str, bool]:
    """Does each prototype put the very message the shipped Producer puts (ids aside)?"""
    from bench.jobs import QUEUE, producer

    client = redis.Redis.from_url(url)
    job = RecordStartJob.model_validate(
        {"conference_id": "weekly sync / é", "format": "wav", "play_beep": True, "command_id": "c"}
    )
    client.delete(QUEUE)
    producer(url).enqueue_many([job], batch="b1")
    expected = _normalized(client.rpop(QUEUE) or b"{}")
    same: dict[str, bool] = {}
    for name, enqueue_many in PROTOTYPES.items():
        enqueue_many(producer(url), [job], batch="b1")
        same[name] = _normalized(client.rpop(QUEUE) or b"{}") == expected
    return same
