"""Measurement 3: one worker's resident memory as jobs go through it.

The simulator answers at once (latency 0) so jobs go as fast as the worker can take
them; a producer thread enqueues the whole target while the worker runs, and RSS is
sampled as the outcome count crosses each checkpoint. A time budget caps the phase:
if the target does not fit, the biggest count reached is reported as such.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from typing import Any

from bench import jobs
from bench.proc_stats import memory
from bench.procs import Rig


def rss_growth(
    rig: Rig, target: int, checkpoints: list[int], budget_s: float, every: int
) -> dict[str, Any]:
    rig.flush()
    client = rig.client()
    samples: list[dict[str, Any]] = []
    with ExitStack() as stack:
        sim = rig.simulator(stack, 0)
        (worker,) = rig.workers(stack, sim, ["rss"])
        warm = memory(worker.pid)
        samples.append({"jobs": 0, "rss_mib": warm.rss_mib, "pss_mib": warm.pss_mib})
        failure: list[BaseException] = []

        def enqueue() -> None:
            try:
                producer = jobs.producer(rig.url)
                step = 10_000
                for start in range(0, target, step):
                    data = jobs.rows("rss", min(step, target - start), start)
                    producer.enqueue_many(jobs.validated(data), keep=False)
            except BaseException as exc:  # reported, never lost in the thread
                failure.append(exc)

        feeder = threading.Thread(target=enqueue, daemon=True)
        started = time.monotonic()
        feeder.start()
        wanted = sorted({*checkpoints, *range(every, target + 1, every)})
        done = 0
        while wanted and time.monotonic() - started < budget_s and worker.alive():
            done = int(client.xlen(jobs.STREAM))
            if done >= wanted[0]:
                mem = memory(worker.pid)
                samples.append({"jobs": done, "rss_mib": mem.rss_mib, "pss_mib": mem.pss_mib})
                while wanted and done >= wanted[0]:
                    wanted.pop(0)
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        feeder.join(timeout=120)
        if failure:
            raise RuntimeError(f"enqueue failed: {failure[0]!r}")
        done = int(client.xlen(jobs.STREAM))
        if done > samples[-1]["jobs"]:
            mem = memory(worker.pid)
            samples.append({"jobs": done, "rss_mib": mem.rss_mib, "pss_mib": mem.pss_mib})
    rig.flush()  # jobs left over when the budget ran out
    at = {s["jobs"]: s["rss_mib"] for s in samples}
    first = next((s for s in samples if s["jobs"] >= checkpoints[0]), None)
    last = samples[-1]
    return {
        "target": target,
        "reached": last["jobs"],
        "budget_s": budget_s,
        "seconds": round(elapsed, 1),
        "rate": round(last["jobs"] / elapsed, 1) if elapsed else 0.0,
        "checkpoints": {
            str(c): next((s["rss_mib"] for s in samples if s["jobs"] >= c), None)
            for c in checkpoints
        },
        "first_checkpoint": first["jobs"] if first else None,
        "growth_ratio": round(last["rss_mib"] / first["rss_mib"], 3) if first else None,
        "samples": samples,
        "rss_at_start_mib": at[0],
    }
