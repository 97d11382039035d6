"""FleetThrottle: one request rate to Telnyx across every worker process.

Celery's ``rate_limit`` is per worker; this is a token bucket in Redis (one Lua step, on
Redis's clock, so workers on different hosts agree). A caller that finds it empty reserves
the next token and sleeps until then, so waiters are served in the order they asked; with
plain polling, each refill goes to whoever asks first and one job can lose every race
until its retry deadline. A 429 with Retry-After sets a shared
pause key, and every worker holds its sends until it expires, not just the job that got it.
``state`` reads both with the same refill rule, for ``confrec stats``.
The same step that lets an attempt go out records it in the job's history, so the history
never misses an attempt Telnyx may have seen (and costs no extra round trip).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from confrec.tasks import metrics
from confrec.tasks.store import keys
from confrec.tasks.store.scripts import register

# take's answers (lua/take.lua).
GO, PAUSED, RESERVED, REFUSED = 0, 1, 2, 3

#: Longest fleet pause a Retry-After can set: past it, Redis refuses the expiry.
MAX_PAUSE_S = 24 * 3600.0


@dataclass(frozen=True)
class TakeRequest:
    """One ask for an attempt's token, as ``take_from`` in lua/take.lua reads it: another
    script may run it (``JobLedger.begin`` does, for a delivery's first attempt)."""

    keys: list[str]
    """Bucket, pause, job state."""
    args: list[str]
    """Rate, burst, now, budget (ms), reserved, earlier attempts now known to have started
    nothing."""


@dataclass(frozen=True)
class ThrottleState:
    """The fleet-wide limit as configured here, and the shared bucket and pause now."""

    rate_limit: float | None
    rate_burst: int | None
    tokens: float | None
    """Tokens in the bucket now, negative while waiting attempts hold reservations; None
    when no limit is configured (nothing is counted)."""
    pause_remaining_ms: int
    """0 when no pause is in force; -1 for a pause key without expiry (should not happen)."""


def default_burst(rate: float) -> int:
    """CONFREC_RATE_BURST unset: a second's worth of tokens (at least one)."""
    return max(1, math.ceil(rate))


class FleetThrottle:
    """Blocks a send until the fleet-wide bucket has a token and no pause is in force.

    ``client`` decodes replies (``decode_responses=True``)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        rate: float | None,
        burst: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst or (default_burst(rate) if rate else None)
        self._limit = ["" if rate is None else repr(rate), str(self.burst or 0)]  # the Lua's ARGV
        self._take = register(client, "throttle_take")
        self._pause = register(client, "throttle_pause")
        self._peek = register(client, "throttle_peek")
        self._sleep = sleep

    def request(
        self, job_id: str, deadline: float | None, *, reserved: bool = False, nothing: int = 0
    ) -> TakeRequest:
        """The ask for a token for the next attempt of ``job_id`` (see ``acquire``)."""
        budget = "" if deadline is None else str(int((deadline - time.monotonic()) * 1000))
        return TakeRequest(
            [keys.RATE_BUCKET, keys.FLEET_PAUSE, keys.job_state(job_id)],
            [*self._limit, repr(time.time()), budget, "1" if reserved else "", str(nothing)],
        )

    def acquire(
        self,
        job_id: str,
        deadline: float | None = None,
        *,
        taken: tuple[int, int] | None = None,
        nothing: int = 0,
    ) -> bool:
        """Wait for permission to send an attempt of ``job_id`` and record it; False if
        permission would come after ``deadline`` (a ``time.monotonic()`` value), so a job
        never outlives its retry deadline here. Tokens are reserved in the order asked.
        ``taken``: the answer to a ``request`` another script already ran (code, ms).
        ``nothing``: earlier attempts now known to have started nothing, recorded with
        this one (True: recorded; False: still the caller's to record)."""
        reserved, waited = False, 0.0
        while True:
            if taken is not None:
                (code, wait_ms), taken = taken, None
            else:
                ask = self.request(job_id, deadline, reserved=reserved, nothing=nothing)
                code, wait_ms = (int(part) for part in self._take(keys=ask.keys, args=ask.args))
            too_late = deadline is not None and time.monotonic() + wait_ms / 1000 > deadline
            if code in (GO, REFUSED) or too_late:
                metrics.RATE_LIMIT_WAIT.observe(waited)
                return code == GO
            reserved = reserved or code == RESERVED
            self._sleep(wait_ms / 1000)
            waited += wait_ms / 1000

    def pause_fleet(self, seconds: float) -> None:
        """Hold every worker's sends for ``seconds`` (after a 429 with Retry-After)."""
        self._pause(keys=[keys.FLEET_PAUSE], args=[max(1, int(min(seconds, MAX_PAUSE_S) * 1000))])

    def state(self) -> ThrottleState:
        """The bucket and the pause as every worker sees them now (changes nothing)."""
        reply: Any = self._peek(keys=[keys.RATE_BUCKET, keys.FLEET_PAUSE], args=self._limit)
        pause = int(reply[0])
        tokens = round(float(reply[1]), 3) if len(reply) > 1 else None
        return ThrottleState(
            self.rate, self.burst, tokens, pause if pause > 0 or pause == -1 else 0
        )
