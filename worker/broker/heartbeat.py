"""Who owns each in-flight list: registrations, heartbeats, and the sweep that hands a
dead consumer's list back to its queue (the other half of ``worker/broker/transport.py``).

Every consumer is registered in one hash (consumer id → queue) and keeps a key alive with
a TTL. Any worker's sweep moves the in-flight list of a registered consumer whose key
has expired to the head of its queue, in one Lua step, and forgets the consumer.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import redis

from confrec.tasks import metrics
from confrec.tasks.store import keys

log = logging.getLogger(__name__)

#: A consumer whose heartbeat is older than this is dead and its in-flight list is swept.
HEARTBEAT_TTL_S = 10
#: How often each worker renews its heartbeats and sweeps for dead consumers.
BEAT_INTERVAL_S = 1.0

# KEYS: registry (hash consumer -> queue). ARGV: alive-key prefix, in-flight-key prefix.
# Moves each dead consumer's in-flight messages to the head of its queue; returns how many.
_SWEEP = """
local moved = 0
local registry = redis.call('HGETALL', KEYS[1])
for i = 1, #registry, 2 do
  local consumer, queue = registry[i], registry[i + 1]
  if redis.call('EXISTS', ARGV[1] .. consumer) == 0 then
    local inflight = ARGV[2] .. consumer
    while redis.call('LMOVE', inflight, queue, 'RIGHT', 'RIGHT') do
      moved = moved + 1
    end
    redis.call('HDEL', KEYS[1], consumer)
  end
end
return moved
"""


class Registered(Protocol):
    def registration(self) -> tuple[str, str] | None:
        """(consumer id, queue), or None when not fetching reliably."""


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
        client.register_script(_SWEEP)(
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


class Heartbeat:
    """One thread per transport: renews its consumers' heartbeats and sweeps dead ones.

    A thread rather than the event loop's timer, so that long jobs filling the prefetch
    (when the loop stops fetching) or any pool keep the heartbeat going; it dies with the
    process, which is exactly when the heartbeat must stop.
    """

    def __init__(self) -> None:
        self._owners: set[Registered] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._client: redis.Redis | None = None

    def watch(self, owner: Registered, client: redis.Redis) -> None:
        """Beat for ``owner`` from now on, through ``client`` (the newest owner's client:
        after a reconnect, or a Sentinel failover, the old channel's may be closed)."""
        with self._lock:
            self._owners.add(owner)
            self._client = client
            if self._thread is None or not self._thread.is_alive():  # not after a fork
                self._thread = threading.Thread(
                    target=self._run, name="confrec-heartbeat", daemon=True
                )
                self._thread.start()

    def unwatch(self, owner: Registered) -> None:
        with self._lock:
            self._owners.discard(owner)

    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def _run(self) -> None:
        # The thread decides to end under the lock ``watch`` takes, so an owner watched
        # while a beat was still waiting on Redis (a broker that just died) is never left
        # without a thread: it ends only when no one is watched, and says so first.
        while True:
            time.sleep(BEAT_INTERVAL_S)
            with self._lock:
                client = self._client
                if not self._owners or client is None:
                    self._thread = None
                    return
                consumers = dict(r for o in self._owners if (r := o.registration()))
            try:
                beat(client, consumers)
                sweep(client)
            except redis.RedisError as exc:
                log.warning("heartbeat: Redis failed (%s); retrying", type(exc).__name__)
