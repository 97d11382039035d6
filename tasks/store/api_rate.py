"""Each principal's enqueue rate in ``confrec serve`` (``CONFREC_API_RATE_LIMIT``).

A token bucket per principal in Redis, taken in one Lua step on Redis's clock, so the
limit holds across every serve process and host. A job is a token: a bulk of N takes N.
"""

from __future__ import annotations

import math

import redis

from confrec.tasks.store import keys
from confrec.tasks.store.scripts import register


class ApiRateLimit:
    """``rate`` jobs/s per principal, ``burst`` at once (default: one second's worth)."""

    def __init__(self, client: redis.Redis, rate: float, burst: int | None = None) -> None:
        self.rate = rate
        self.burst = burst or max(1, math.ceil(rate))
        self._take = register(client, "api_rate_take")

    def wait_s(self, principal: str, jobs: int) -> float:
        """0 when ``jobs`` jobs of ``principal`` may go now (and they are counted), else
        how many seconds until they may (nothing counted)."""
        waited = self._take(
            keys=[keys.api_rate_bucket(principal)], args=[self.rate, self.burst, jobs]
        )
        return int(waited) / 1000
