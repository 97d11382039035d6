"""Measurement 4: the same burst through one worker of each shipped pool kind.

prefork and threads, 16 each, started as docs/configuration.md says (``confrec worker --pool P
--concurrency 16``); the pool each run really got is read from the worker's banner.
gevent is not compared: ``confrec worker`` does not monkeypatch for it (not supported).
Each run has a time budget: the rate is of what finished.
"""

from __future__ import annotations

import re
import time
from contextlib import ExitStack
from typing import Any

from bench.e2e import burst, reset_simulator
from bench.proc_stats import memory
from bench.procs import Rig

#: label → ``confrec worker`` options.
POOLS = {
    "prefork 16": ["--pool", "prefork", "--concurrency", "16"],
    "threads 16": ["--pool", "threads", "--concurrency", "16"],
}


def compare_pools(rig: Rig, count: int, latency_ms: float, budget_s: float) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    with ExitStack() as outer:
        sim = rig.simulator(outer, latency_ms)
        for n, (label, args) in enumerate(POOLS.items()):
            t0 = time.monotonic()
            rig.flush()
            reset_simulator(sim)
            with ExitStack() as stack:
                workers = rig.workers(stack, sim, [f"pool{n}"], args)
                banner = re.search(r"concurrency: (\d+ \(\w+\))", workers[0].log())
                idle = memory(workers[0].pid)
                result = burst(rig, workers, sim, count, f"pool{n}", timeout_s=budget_s)
                acks = workers[0].log().count("Couldn't ack")
                mem = memory(workers[0].pid)
            result |= {
                "complete": result.get("outcomes") == count,
                "rss_idle_mib": idle.rss_mib,
                "rss_mib": mem.rss_mib,
                "pss_mib": mem.pss_mib,
                "processes": mem.processes,
                "failed_acks_logged": acks,
                "banner": banner.group(1) if banner else "?",
            }
            runs[label] = result | {"run_seconds": round(time.monotonic() - t0, 1)}
    rig.flush()
    return {"jobs": count, "latency_ms": latency_ms, "budget_s": budget_s, "runs": runs}
