"""Enqueue record-start jobs: one, or many from an iterable, over one reused connection.

A job's command_id is fixed here, before the message exists, so every attempt and every
redelivery of it sends the same one. With a ledger, each chunk of jobs is recorded as
queued before its messages go out, so a job's status is known the moment it is enqueued.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import kombu
from celery import Celery
from celery.utils.nodenames import anon_nodename
from kombu.exceptions import (  # type: ignore[attr-defined]  # stubs predate kombu 5.7
    BatchPublishError,
    OperationalError,
)
from redis.exceptions import RedisError

from confrec.tasks.job import (
    HEADER_BATCH,
    HEADER_ENQUEUED_AT,
    HEADER_RETRY_OF,
    TASK_NAME,
    RecordStartJob,
    derived_command_id,
    new_command_id,
    utc_now,
)
from confrec.tasks.principal import Principal
from confrec.tasks.publishing.confirms import ChunkConfirms
from confrec.tasks.publishing.ids import random_ids
from confrec.tasks.publishing.pushes import coalescable, collecting
from confrec.tasks.store.ledger import JobLedger

#: How long a bulk chunk may wait for RabbitMQ's confirms before the bulk fails.
CONFIRM_TIMEOUT_S = 30.0


def _confirmed_on_publish(published: int) -> None:
    """Redis answers each pipelined chunk, and py-amqp with ``confirm_publish`` waits
    after each message: nothing is left to wait for."""


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    command_id: str
    conference_id: str
    retry_of: str | None = None
    """The job this one sends again (``enqueue_retries``)."""


class EnqueueError(RuntimeError):
    """The broker refused or could not be reached; ``enqueued`` jobs went out before it."""

    def __init__(self, message: str, enqueued: int) -> None:
        super().__init__(message)
        self.enqueued = enqueued


def fix_command_id(
    job: RecordStartJob,
    batch_key: str | None = None,
    scope: str | None = None,
    fresh: str | None = None,
) -> RecordStartJob:
    """The job with its command_id set: the producer's, derived from the batch key (in a
    named principal's ``scope``), or new (``fresh``, if given, is that new one)."""
    if job.command_id:
        return job
    return job.with_command_id(
        derived_command_id(batch_key, job, scope) if batch_key else fresh or new_command_id()
    )


class Producer:
    """Publishes jobs to the record_start queue through one pooled broker connection.

    Celery and kombu build every message; a chunk of them goes to Redis as a few LPUSHes
    in one round trip (``pushes.py``), to RabbitMQ back to back, confirmed as a whole
    (``confirms.py``).
    """

    def __init__(
        self, app: Celery, queue: str, *, ledger: JobLedger | None = None, chunk_size: int = 500
    ) -> None:
        self.app = app
        self.queue = queue
        self.ledger = ledger
        self.chunk_size = chunk_size
        self._origin = anon_nodename()

    def enqueue(
        self, job: RecordStartJob, *, batch: str | None = None, batch_key: str | None = None
    ) -> Enqueued:
        return self._enqueue([job], batch=batch, batch_key=batch_key, bulk=False)[0]

    def enqueue_many(
        self,
        jobs: Iterable[RecordStartJob],
        *,
        batch: str | None = None,
        batch_key: str | None = None,
        on_sent: Callable[[int], None] | None = None,
        keep: bool = True,
        principal: Principal | None = None,
    ) -> list[Enqueued]:
        """Publish every job; returns what was enqueued (nothing kept when ``keep`` is
        False, so a 100,000-row bulk stays flat in memory). ``on_sent`` gets the running
        count after each chunk reached Redis. ``principal``: who enqueues (``confrec
        serve``'s caller), recorded with each job. Raises EnqueueError, with the count known
        to be enqueued, if the broker fails midway (the failing chunk may be partly sent)."""
        return self._enqueue(
            jobs, batch=batch, batch_key=batch_key, on_sent=on_sent, keep=keep, by=principal
        )

    def enqueue_retries(
        self,
        retries: Sequence[tuple[str, RecordStartJob]],
        *,
        batch: str,
        retry_of_batch: str,
        principal: Principal | None = None,
    ) -> dict[str, Enqueued]:
        """Send failed jobs again (each: the job id it retries, the job with its own
        command_id) as new jobs of ``batch``, marked ``retry_of``; returns the new job of
        each original that was sent. An original already retried (by a concurrent retry)
        is claimed by the ledger's step that records the new job, which is then never sent."""
        if self.ledger is None:
            raise ValueError("a retry needs the ledger: it claims each job it retries")
        sent = self._enqueue(
            (job for _, job in retries),
            batch=batch,
            batch_key=None,
            by=principal,
            retry_of=[original for original, _ in retries],
            retry_of_batch=retry_of_batch,
        )
        return {one.retry_of: one for one in sent if one.retry_of}

    def _enqueue(
        self,
        jobs: Iterable[RecordStartJob],
        *,
        batch: str | None,
        batch_key: str | None,
        on_sent: Callable[[int], None] | None = None,
        keep: bool = True,
        bulk: bool = True,
        by: Principal | None = None,
        retry_of: Sequence[str] = (),
        retry_of_batch: str | None = None,
    ) -> list[Enqueued]:
        sent: list[Enqueued] = []
        scope = by.batch_scope if by else None
        count = read = 0  # messages sent; jobs read (a retry's originals are by place)
        extra_headers = {HEADER_BATCH: batch} if batch else {}
        try:
            with self._publishing(bulk) as (producer, confirmed):
                # The first message declares the queue; the rest skip that step.
                declare: list[Any] = [self.app.amqp.queues[self.queue]]
                for chunk in _chunks(jobs, self.chunk_size):
                    ids = random_ids(2 * len(chunk))  # job ids, then fresh command ids
                    fixed = [
                        (ids[i], fix_command_id(job, batch_key, scope, ids[-1 - i]))
                        for i, job in enumerate(chunk)
                    ]
                    originals = dict(zip((j for j, _ in fixed), retry_of[read:], strict=False))
                    read += len(chunk)
                    enqueued_at = utc_now()
                    if self.ledger is not None:
                        refused = self.ledger.enqueued(
                            fixed,
                            enqueued_at,
                            by.name if by else "",
                            batch,
                            batch_key,
                            retry_of=originals,
                            retry_of_batch=retry_of_batch,
                        )
                        fixed = [(j, job) for j, job in fixed if j not in refused]
                    headers = {HEADER_ENQUEUED_AT: enqueued_at, **extra_headers}
                    with self._chunk(producer, len(fixed)):
                        for job_id, job in fixed:
                            retried = originals.get(job_id)
                            marked = {**headers, HEADER_RETRY_OF: retried} if retried else headers
                            self._publish(producer, job_id, job, marked, declare)
                            declare = []
                    confirmed(count + len(fixed))
                    if keep:
                        sent += [
                            Enqueued(
                                job_id,
                                job.command_id or "",
                                job.conference_id,
                                originals.get(job_id),
                            )
                            for job_id, job in fixed
                        ]
                    count += len(fixed)
                    if on_sent is not None:
                        on_sent(count)
        except (BatchPublishError, OperationalError, RedisError, OSError) as exc:
            raise EnqueueError(f"{type(exc).__name__}: {exc}", count) from exc
        return sent

    @contextmanager
    def _publishing(self, bulk: bool) -> Iterator[tuple[kombu.Producer, Callable[[int], None]]]:
        """A producer, and what confirms its first N messages. Pooled, as Celery's own;
        but a bulk on RabbitMQ gets a connection whose channel confirms whole chunks
        (``ChunkConfirms``) rather than waiting a round trip after every message."""
        options = dict(self.app.conf.broker_transport_options or {})
        if not (bulk and options.get("confirm_publish")):
            with self.app.producer_or_acquire() as producer:
                yield producer, _confirmed_on_publish
            return
        options["confirm_publish"] = False  # the chunk's acks are awaited below instead
        options["write_timeout"] = CONFIRM_TIMEOUT_S  # a stalled broker cannot hang a send
        with self.app.connection_for_write(transport_options=options) as conn:
            confirms = ChunkConfirms(conn.default_channel, CONFIRM_TIMEOUT_S)
            yield kombu.Producer(conn.default_channel), confirms.wait

    @staticmethod
    @contextmanager
    def _chunk(producer: kombu.Producer, size: int) -> Iterator[None]:
        """Publishes a chunk's messages at the end of the block: on Redis as a few LPUSHes
        (``pushes.py``), elsewhere as kombu's batch does (RabbitMQ: back to back)."""
        if not coalescable(producer):
            with producer.batch(max_size=size + 1):  # type: ignore[attr-defined]
                yield
            return
        with collecting(producer) as pushes:
            yield
        pushes.send()

    def _publish(
        self,
        producer: kombu.Producer,
        job_id: str,
        job: RecordStartJob,
        extra_headers: dict[str, str],
        declare: list[Any],
    ) -> None:
        """Celery builds the message (``as_task_v2``, protocol 2, exactly what
        ``send_task`` sends); kombu publishes it straight to the queue. This skips
        ``send_task``'s per-call routing, option merging and AsyncResult, which cost more
        than the message itself."""
        kwargs = job.task_kwargs()
        message = self.app.amqp.as_task_v2(
            job_id,
            TASK_NAME,
            kwargs=kwargs,
            origin=self._origin,
            argsrepr="()",
            kwargsrepr=repr(kwargs),  # what Flower shows; the job holds no secrets
        )
        headers = {**message.headers, **extra_headers}
        producer.publish(
            message.body,
            exchange="",
            routing_key=self.queue,
            serializer="json",
            headers=headers,
            declare=declare,
            retry=False,  # nothing leaves before the batch flushes
            **message.properties,
        )


def _chunks(items: Iterable[RecordStartJob], size: int) -> Iterator[list[RecordStartJob]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
