"""Who owns each in-flight list of the reliable fetch: registrations, heartbeats, and the
sweep that hands a dead consumer's list back to its queue.

Every consumer is registered in one hash (consumer id → queue) and keeps a key alive with
a TTL. Any worker's sweep moves the in-flight list of a registered consumer whose key
has expired to the head of its queue, in one Lua step, and forgets the consumer. The
thread that beats and sweeps is the broker's (``worker/broker/heartbeat.py``).
"""

from __future__ import annotations

import logging

import redis

from confrec.tasks import metrics
from confrec.tasks.store import keys, undeliverable
from confrec.tasks.store.scripts import register

log = logging.getLogger(__name__)

#: A consumer whose heartbeat is older than this is dead and its in-flight list is swept.
HEARTBEAT_TTL_S = 10


def beat(client: redis.Redis, consumers: dict[str, str]) -> None:
    """Register each consumer and renew its heartbeat. Renewing the registration too
    matters: after a Redis restart or a lapse a sweep may have dropped it, and a consumer
    that is not registered would never have its in-flight list swept when it dies."""
    with client.pipeline(transaction=False) as pipe:
        for consumer, queue in consumers.items():
            pipe.hset(keys.CONSUMERS, consumer, queue)
            pipe.set(keys.consumer_alive(consumer), "1", ex=HEARTBEAT_TTL_S)
        pipe.execute()


def sweep(client: redis.Redis) -> int:
    """Hand every dead consumer's in-flight messages back; returns how many moved."""
    moved = int(
        register(client, "consumers_sweep")(
            keys=[keys.CONSUMERS], args=[keys.consumer_alive(""), keys.inflight("")]
        )
    )
    if moved:
        client.incrby(keys.RECOVERED, moved)
        metrics.RECOVERED_JOBS.inc(moved)
        log.warning("recovered %d message(s) of dead consumers back to their queue", moved)
    return moved


def retire(client: redis.Redis, consumer: str) -> None:
    """A consumer that closes cleanly: its heartbeat ends now and its list goes back."""
    client.delete(keys.consumer_alive(consumer))
    sweep(client)


def set_aside(client: redis.Redis, inflight: str, item: bytes, reason: str | None) -> None:
    """Take ``item`` out of the in-flight list; with a ``reason``, keep it for an operator
    in the same transaction (a message kombu could not take: ``undeliverable``)."""
    with client.pipeline() as pipe:
        pipe.lrem(inflight, 1, item)  # type: ignore[arg-type]  # bytes go as they are
        if reason:
            undeliverable.add(pipe, item)
        pipe.execute()
    if reason:
        undeliverable.counted(reason)


def in_flight_lists(client: redis.Redis) -> list[str]:
    """The in-flight list of every registered consumer."""
    consumers: list[str] = client.hkeys(keys.CONSUMERS)  # type: ignore[assignment]
    return [keys.inflight(consumer) for consumer in consumers]
