"""Chaos: random workers SIGKILLed, whole process groups, under a load of short jobs.

A kill can land anywhere: between the fetch and kombu's unacked record (the window the
reliable fetch closes), mid-HTTP, between the outcome and the ack. Every job must still
end with exactly one outcome, and every conference see one command_id and one recording;
the jobs' batch counts each of them once (its counters move in the steps they count).
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable

import pytest

from confrec.tasks.store.batches import BatchStore
from confrec.worker.local.processes import ManagedProcess, wait_until
from tests.support.system import BROKERS, QUICK_REDELIVERY, System

JOBS = 1500
WORKERS = 3
KILLS = 18


@pytest.mark.timeout(300)
@pytest.mark.parametrize("broker", BROKERS)
def test_random_sigkills_lose_no_job_and_start_no_second_recording(
    isolated: Callable[..., System], own_simulator: ManagedProcess, broker: str
) -> None:
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    system = isolated(own_simulator, broker=broker, **QUICK_REDELIVERY)
    workers = system.start_workers([f"chaos{i}" for i in range(WORKERS)], mingle=True)
    tag = uuid.uuid4().hex[:8]
    conferences = [f"chaos-{tag}-{i:05d}" for i in range(JOBS)]
    batch = f"chaos-{tag}"
    job_ids = system.enqueue(conferences, batch=batch)

    # Kill as the outcomes flow, a kill every JOBS / (KILLS + 6) outcomes, so the kills
    # spread over the run whatever the machine's speed; a fresh worker replaces each.
    step = JOBS // (KILLS + 6)
    started = time.monotonic()
    for kill in range(1, KILLS + 1):

        def progressed(due: int = kill * step) -> bool:
            return system.published() >= due

        wait_until(progressed, 60, f"{kill * step} outcomes before kill {kill}")
        victim = rng.choice([w for w in workers if w.alive()])
        victim.kill_group()
        workers.append(system.start_worker(f"r{kill}", concurrency=8, wait=False, mingle=True))
    killing_s = time.monotonic() - started

    outcomes = system.outcomes(job_ids, timeout=120)
    duplicated = {job: len(o) for job, o in outcomes.items() if len(o) != 1}
    assert duplicated == {}, f"seed {seed}"
    assert {o[0].status for o in outcomes.values()} == {"succeeded"}, f"seed {seed}"
    stats = system.sim("/_sim/stats")["conferences"]
    second_ids = [c for c in conferences if len(stats[c]["command_ids"]) != 1]
    second_recordings = [c for c in conferences if stats[c]["recordings"] != 1]
    assert (second_ids, second_recordings) == ([], []), f"seed {seed}"
    summary = BatchStore(system.state).summary(batch)
    assert summary is not None, f"seed {seed}"
    assert (summary.total, summary.counts["finished"], summary.counts["succeeded"]) == (
        JOBS,
        JOBS,
        JOBS,
    ), f"seed {seed}: {summary.as_dict()}"
    assert summary.counts["queued"] + summary.counts["running"] == 0, f"seed {seed}"
    hit = sum(1 for o in outcomes.values() if o[0].redelivered)
    recovered = int(system.client.get("confrec:recovered") or 0) if broker == "redis" else 0
    print(
        f"chaos on {broker}, seed {seed}: {KILLS} kills in {killing_s:.1f}s, {hit} jobs "
        f"redelivered, {recovered} recovered from in-flight lists, 0 lost, 0 duplicated"
    )
