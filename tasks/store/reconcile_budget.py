"""ReconcileBudget: reconciliation's own request rate to Telnyx, across the fleet.

Reconciliation must never slow the starts, so it takes from a bucket of its own
(``CONFREC_RECONCILE_RATE``) with the throttle's Lua (the same ``take``, on Redis's
clock). It stays under the fleet-wide limit (``CONFREC_RATE_LIMIT``) too: each call also
takes one of the fleet's tokens, but only a spare one — while the fleet's bucket is more
than half full — so a start never waits for a token reconciliation took; in a long burst
of starts reconciliation waits, and catches up after. It holds its calls while the
fleet's 429 pause is in force, and a 429 to one of its own calls pauses reconciliation
only: the starts keep going.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import redis

from confrec.tasks.store import keys
from confrec.tasks.store.scripts import register
from confrec.tasks.store.throttle import GO, MAX_PAUSE_S, REFUSED, RESERVED

RECONCILE_CALLS = f"{keys.PREFIX}:reconcile:calls"
"""Hash: ``attempts`` (calls reconciliation sent to Telnyx), ``last_attempt_at``,
``first_attempt_at`` — what ``take`` records for each call it lets go."""


class ReconcileBudget:
    """Blocks a reconciliation call until its bucket has a token and no pause is in
    force; ``client`` decodes replies."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        rate: float,
        burst: int | None = None,
        fleet: tuple[float, int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst or max(1, math.ceil(rate))
        self._client = client
        self.fleet = fleet
        """The fleet-wide limit (rate, burst) it stays under; None without one."""
        self._take = register(client, "throttle_take")
        self._spare = register(client, "throttle_spare")
        self._pause = register(client, "throttle_pause")
        self._sleep = sleep
        self._monotonic = monotonic

    def acquire(self, deadline: float) -> bool:
        """Wait for a token; False (at once) when it would come after ``deadline``
        (a ``monotonic`` value), so a run never outlasts its time bound here."""
        reserved = False
        while True:
            fleet_ms = int(self._client.pttl(keys.FLEET_PAUSE))
            if fleet_ms > 0:
                code, wait_ms = -1, fleet_ms
            else:
                budget = max(0, int((deadline - self._monotonic()) * 1000))
                reply: Any = self._take(
                    keys=[keys.RECONCILE_BUCKET, keys.RECONCILE_PAUSE, RECONCILE_CALLS],
                    args=[
                        repr(self.rate),
                        str(self.burst),
                        repr(time.time()),
                        str(budget),
                        "1" if reserved else "",
                    ],
                )
                code, wait_ms = int(reply[0]), int(reply[1])
            if code == GO:
                return self._spare_token(deadline)
            if code == REFUSED or self._monotonic() + wait_ms / 1000 > deadline:
                return False
            reserved = reserved or code == RESERVED  # that token is ours when we ask again
            self._sleep(wait_ms / 1000)

    def _spare_token(self, deadline: float) -> bool:
        """One of the fleet's tokens, once it has one to spare; False past ``deadline``."""
        if self.fleet is None:
            return True
        rate, burst = self.fleet
        while True:
            reply: Any = self._spare(keys=[keys.RATE_BUCKET], args=[repr(rate), str(burst)])
            if int(reply[0]) == GO:
                return True
            wait_s = int(reply[1]) / 1000
            if self._monotonic() + wait_s > deadline:
                return False
            self._sleep(wait_s)

    def pause(self, seconds: float) -> None:
        """Hold reconciliation's calls (only theirs) for ``seconds``, after a 429."""
        ms = max(1, int(min(seconds, MAX_PAUSE_S) * 1000))
        self._pause(keys=[keys.RECONCILE_PAUSE], args=[ms])

    def calls_sent(self) -> int:
        """Calls reconciliation has sent to Telnyx, fleet-wide (for tests and stats)."""
        return int(self._client.hget(RECONCILE_CALLS, "attempts") or 0)
