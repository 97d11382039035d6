"""The fleet-wide rate limit and the fleet-wide pause after a 429, across 3 workers; the
bucket's fairness on the real Lua."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from confrec.tasks.store import keys
from confrec.tasks.store.throttle import FleetThrottle
from confrec.worker.broker.clients import redis_client
from confrec.worker.local.processes import ManagedProcess, wait_until
from tests.support.system import BROKERS, System


def start_fleet(system: System, size: int = 3) -> None:
    system.start_workers([f"fleet{n}" for n in range(size)], concurrency=4)


@pytest.mark.parametrize("broker", BROKERS)
def test_rate_limit_holds_across_all_workers(
    isolated: Callable[..., System], own_simulator: ManagedProcess, broker: str
) -> None:
    system = isolated(own_simulator, broker=broker, CONFREC_RATE_LIMIT="10", CONFREC_RATE_BURST="3")
    start_fleet(system)
    tag = uuid.uuid4().hex[:8]
    job_ids = system.enqueue([f"{tag}-{i:02d}" for i in range(60)])
    outcomes = system.outcomes(job_ids, timeout=60)
    assert {o[0].status for o in outcomes.values()} == {"succeeded"}
    stats = system.sim("/_sim/stats")
    assert stats["requests"] == 60
    # 12 workers' threads could send all 60 in one second; the bucket lets 10/s + burst.
    assert stats["max_requests_in_any_second"] <= 10 + 3


@pytest.mark.parametrize("broker", BROKERS)
def test_a_429_with_retry_after_pauses_the_whole_fleet(
    isolated: Callable[..., System], own_simulator: ManagedProcess, broker: str
) -> None:
    system = isolated(own_simulator, broker=broker)
    start_fleet(system)
    limited = f"ratelimited-1-{uuid.uuid4().hex[:8]}"
    system.enqueue([limited])
    wait_until(lambda: system.state.pttl(keys.FLEET_PAUSE) > 0, 20, "the fleet pause")
    others = [f"after-429-{uuid.uuid4().hex[:8]}-{i}" for i in range(30)]
    system.outcomes(system.enqueue(others), timeout=30)

    rejected_at = system.sim_requests(limited)[0]["t"]
    first_sends = [system.sim_requests(c)[0]["t"] for c in others]
    # Retry-After: 1 — no worker sent anything until the second had passed.
    assert min(first_sends) >= rejected_at + 0.95


def test_waiters_reserve_tokens_in_turn_so_none_loses_every_race(
    redis_proc: ManagedProcess,
) -> None:
    """16 threads ask again and again on a 20/s bucket (64 attempts, ~3.2 s), each attempt
    with a 2 s deadline: served in turn, none waits much past 16 / 20 = 0.8 s. With
    first-come polling every refill is a race among 16, and some attempt loses ~40 in a
    row (likely over 64 attempts) and is refused at its deadline."""
    client = redis_client(redis_proc.extra["url"])
    client.delete(keys.RATE_BUCKET, keys.FLEET_PAUSE)
    throttle = FleetThrottle(client, rate=20.0, burst=1)
    granted: list[float] = []
    refused: list[str] = []
    lock = threading.Lock()

    def attempts(thread: int) -> None:
        for n in range(4):
            job = f"fair-{thread}-{n}"
            ok = throttle.acquire(job, deadline=time.monotonic() + 2)
            with lock:
                (granted.append(time.monotonic()) if ok else refused.append(job))

    threads = [threading.Thread(target=attempts, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert (refused, len(granted)) == ([], 64)
    assert max(granted) - min(granted) >= 63 / 20 * 0.9  # never faster than the rate
