"""JobHistory: what happened to a job across deliveries, kept in Redis.

A job can be delivered more than once (a worker killed mid-job, a visibility timeout).
Its history tells the next delivery how many attempts were already made and when the
last one was sent, which decides whether Telnyx still de-duplicates its command_id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from config import keys


@dataclass(frozen=True)
class Delivery:
    """What a delivery knows when it starts."""

    number: int
    first_seen_at: float
    attempts_before: int
    last_attempt_at: float | None


class JobHistory:
    def __init__(self, client: redis.Redis, *, ttl_s: int) -> None:
        self._redis = client
        self._ttl_s = ttl_s

    def start_delivery(self, job_id: str) -> Delivery:
        """Count this delivery and read what earlier ones did, in one round trip."""
        key = keys.job_state(job_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hsetnx(key, "first_seen_at", repr(time.time()))
        pipe.hincrby(key, "deliveries", 1)
        pipe.hmget(key, ["first_seen_at", "attempts", "last_attempt_at"])
        pipe.expire(key, self._ttl_s)
        _, number, (first_seen, attempts, last_attempt), _ = pipe.execute()
        return Delivery(
            number=int(number),
            first_seen_at=float(first_seen),
            attempts_before=int(attempts or 0),
            last_attempt_at=float(last_attempt) if last_attempt else None,
        )

    def attempt_sent(self, job_id: str) -> None:
        """Record, before the request goes out, that an attempt is being sent now."""
        key = keys.job_state(job_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hincrby(key, "attempts", 1)
        pipe.hset(key, "last_attempt_at", repr(time.time()))
        pipe.execute()
