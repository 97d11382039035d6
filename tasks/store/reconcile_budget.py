"""ReconcileBudget: reconciliation's own request rate to Telnyx, across the fleet.

Reconciliation must never slow the starts, so it takes from a bucket of its own
(``CONFREC_RECONCILE_RATE``), never the starts' one, with the throttle's Lua (the same
``take``, on Redis's clock). It holds its calls while the fleet's 429 pause is in force,
and a 429 to one of its own calls pauses reconciliation only: the starts keep going.
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
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst or max(1, math.ceil(rate))
        self._client = client
        self._take = register(client, "throttle_take")
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
                return True
            if code == REFUSED or self._monotonic() + wait_ms / 1000 > deadline:
                return False
            reserved = reserved or code == RESERVED  # that token is ours when we ask again
            self._sleep(wait_ms / 1000)

    def pause(self, seconds: float) -> None:
        """Hold reconciliation's calls (only theirs) for ``seconds``, after a 429."""
        ms = max(1, int(min(seconds, MAX_PAUSE_S) * 1000))
        self._pause(keys=[keys.RECONCILE_PAUSE], args=[ms])

    def calls_sent(self) -> int:
        """Calls reconciliation has sent to Telnyx, fleet-wide (for tests and stats)."""
        return int(self._client.hget(RECONCILE_CALLS, "attempts") or 0)
