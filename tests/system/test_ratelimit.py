"""The fleet-wide rate limit and the fleet-wide pause after a 429, across 3 workers."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from confrec.config import keys
from confrec.worker.localstack import ManagedProcess, wait_until
from tests.conftest import BROKERS, System


def start_fleet(system: System, size: int = 3) -> None:
    for n in range(size):
        system.start_worker(f"fleet{n}", concurrency=4)


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
