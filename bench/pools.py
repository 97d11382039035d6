"""Measurement 4: the same burst through one worker of each pool kind.

prefork and threads with 16, gevent with 64 — as ``confrec worker --pool gevent`` runs
today; with the gevent monkeypatch applied first (PROTOTYPE, bench/patched_worker.py),
because ``confrec worker`` calls ``app.worker_main`` without Celery's early
``maybe_patch_concurrency``; and with that plus kombu's Redis pool sized for 64
(PROTOTYPE ``max-conns``). Each run has a time budget: the rate is of what finished.
"""

from __future__ import annotations

import importlib.util
import re
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from bench.e2e import burst, reset_simulator
from bench.proc_stats import memory
from bench.procs import Rig


@dataclass(frozen=True)
class PoolRun:
    label: str
    args: list[str]
    patches: list[str] | None = None
    budget_share: float = 1.0  # of the phase's per-run budget
    stop_timeout: float = 8.0
    env: dict[str, str] | None = None


GEVENT = ["--pool", "gevent", "--concurrency", "64"]
POOLS = [
    # `confrec worker --pool prefork` is silently ignored: Celery cannot tell it from its
    # CLI default and keeps the app's worker_pool (Settings.pool, "threads"). The env
    # variable is the way that works; the run's banner is checked below either way.
    PoolRun("prefork 16", ["--concurrency", "16"], env={"CONFREC_POOL": "prefork"}),
    PoolRun(
        "`--pool prefork --concurrency 16` (as README)",
        ["--pool", "prefork", "-c", "16"],
        None,
        0.4,
    ),
    PoolRun("threads 16", ["--pool", "threads", "--concurrency", "16"]),
    # Hangs (see module doc): a short budget shows it, and its warm shutdown never ends.
    PoolRun("gevent 64 (as shipped)", GEVENT, None, 0.4, stop_timeout=2.0),
    PoolRun("gevent 64 + monkeypatch (proto)", GEVENT, ["gevent"]),
    PoolRun("gevent 64 + monkeypatch + max_connections (proto)", GEVENT, ["gevent", "max-conns"]),
]


def gevent_installed() -> bool:
    return importlib.util.find_spec("gevent") is not None


def compare_pools(rig: Rig, count: int, latency_ms: float, budget_s: float) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    with ExitStack() as outer:
        sim = rig.simulator(outer, latency_ms)
        for n, pool in enumerate(POOLS):
            t0 = time.monotonic()
            if "gevent" in pool.args and not gevent_installed():
                runs[pool.label] = {"error": "gevent is not installed in .venv"}
                continue
            rig.flush()
            reset_simulator(sim)
            with ExitStack() as stack:
                workers = rig.workers(
                    stack,
                    sim,
                    [f"pool{n}"],
                    pool.args,
                    pool.patches,
                    pool.stop_timeout,
                    env=pool.env,
                )
                banner = re.search(r"concurrency: (\d+ \(\w+\))", workers[0].log())
                idle = memory(workers[0].pid)
                budget = budget_s * pool.budget_share
                result = burst(rig, workers, sim, count, f"pool{n}", timeout_s=budget)
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
            runs[pool.label] = result | {"run_seconds": round(time.monotonic() - t0, 1)}
    rig.flush()
    return {"jobs": count, "latency_ms": latency_ms, "budget_s": budget_s, "runs": runs}
