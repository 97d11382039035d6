"""The thread that keeps a worker's consumers alive and sweeps dead ones (the other half
of ``worker/broker/transport.py``); what it writes is ``tasks/store/consumers.py``'s."""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import redis

from confrec.tasks.store.consumers import beat, sweep

log = logging.getLogger(__name__)

#: How often each worker renews its heartbeats and sweeps for dead consumers.
BEAT_INTERVAL_S = 1.0


class Registered(Protocol):
    def registration(self) -> tuple[str, str] | None:
        """(consumer id, queue), or None when not fetching reliably."""


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
