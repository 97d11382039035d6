"""Measurement 7: the cost per job — confrec beside the floor and the yardstick, in one run.

Against one simulator at 20 ms, each contestant on the same jobs, with a fresh process:

* *raw httpx*: C threads sharing one ``httpx.Client`` in this process (the yardstick);
* *bare Celery*: ``celery -A bench.bare worker``, threads pool, concurrency C, a task that
  only POSTs (the floor: what Celery itself costs);
* *confrec*: ``confrec worker`` at concurrency C, this tree;
* *confrec before*: the same, from the tree of ``BASELINE`` (``git archive``), so the
  before/after figures come from the same run (``--baseline`` picks another commit).

At C = 16 (the default worker) the four alternate for ``rounds`` rounds and the table
takes each one's median; a sweep over other C gives the throughput curve, and paced runs
of confrec now and before (both at half the slower one's burst rate) the enqueue→outcome
latency distribution.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import bare, jobs
from bench.e2e import burst, paced, raw
from bench.proc_stats import CpuMeter
from bench.procs import BARE_QUEUE, Rig
from bench.ref import unpack
from confrec.config.settings import Settings
from confrec.tasks.publishing.producer import Producer
from confrec.worker.app import create_app
from confrec.worker.local.processes import ManagedProcess, wait_until

#: The last commit before the work of issue 11 (cost per job): "before" in the table.
BASELINE = "aa48fce"
LATENCY_MS = 20.0
DEFAULT_CONCURRENCY = 16
RAW, BARE, CONFREC, BEFORE = "raw httpx", "bare Celery", "confrec", "confrec before"
WARM_JOBS = 50

Run = Callable[[int, str], dict[str, Any]]


@dataclass(frozen=True)
class CostPlan:
    jobs: int = 1500
    rounds: int = 2
    sweep: tuple[int, ...] = (4, 8, 32)
    """Concurrencies beside 16 for the throughput curve (one run each)."""
    sweep_jobs: int = 800
    paced_seconds: float = 6.0
    baseline: str | None = BASELINE


def cost_phase(rig: Rig, plan: CostPlan) -> dict[str, Any]:
    drift = bare.differences(create_app(Settings()).conf)
    if drift:
        raise RuntimeError(f"bench/bare.py no longer matches confrec's app: {drift}")
    result: dict[str, Any] = {"latency_ms": LATENCY_MS, "baseline": plan.baseline}
    with tempfile.TemporaryDirectory(prefix="confrec-bench-cost-") as tmp, ExitStack() as stack:
        trees: dict[str, Path | None] = {CONFREC: None}
        if plan.baseline:
            trees[BEFORE] = unpack(plan.baseline, Path(tmp))
        sim = rig.simulator(stack, LATENCY_MS)
        rig.flush()
        rounds = [
            {
                name: _measure(rig, sim, name, trees, DEFAULT_CONCURRENCY, plan.jobs, f"r{r}")
                for name in [RAW, BARE, *trees]
            }
            for r in range(plan.rounds)
        ]
        result["rounds"] = rounds
        result["at_16"] = {name: _median(rounds, name) for name in rounds[0]}
        result["sweep"] = {
            str(c): {
                name: _measure(rig, sim, name, trees, c, plan.sweep_jobs, f"s{c}")
                for name in (RAW, BARE, CONFREC)
            }
            for c in plan.sweep
        }
        result["sweep"][str(DEFAULT_CONCURRENCY)] = {
            name: result["at_16"][name] for name in (RAW, BARE, CONFREC)
        }
        # The same offered rate for both: half the slower one's burst rate.
        offered = min(float(result["at_16"][name]["rate"]) for name in trees) / 2
        result["paced"] = {
            name: _paced(rig, sim, name, tree, offered, plan) for name, tree in trees.items()
        }
    result["ratios"] = _ratios(result["at_16"])
    return result


def _measure(
    rig: Rig,
    sim: ManagedProcess,
    name: str,
    trees: dict[str, Path | None],
    concurrency: int,
    count: int,
    tag: str,
) -> dict[str, Any]:
    tag = f"{tag}-{name.replace(' ', '')}-c{concurrency}"
    with ExitStack() as stack:
        run = _contestant(rig, sim, stack, name, trees, concurrency)
        run(WARM_JOBS, f"{tag}-warm")
        return {"concurrency": concurrency} | run(count, tag)


def _contestant(
    rig: Rig,
    sim: ManagedProcess,
    stack: ExitStack,
    name: str,
    trees: dict[str, Path | None],
    concurrency: int,
) -> Run:
    if name == RAW:
        return lambda count, tag: _per_job(raw(sim, count, tag, threads=concurrency))
    if name == BARE:
        worker = rig.bare_worker(stack, sim, concurrency)
        return lambda count, tag: _bare_burst(rig, worker, sim, count, tag)
    env = {"CONFREC_CONCURRENCY": str(concurrency)}
    workers = rig.workers(
        stack, sim, [f"{_tag_of(name)}-c{concurrency}"], source=trees[name], env=env
    )
    return lambda count, tag: burst(rig, workers, sim, count, tag)


def _tag_of(name: str) -> str:
    return name.replace(" ", "-")


def _per_job(result: dict[str, Any]) -> dict[str, Any]:
    """raw httpx's figures under the names the workers' have: CPU per job is the client's."""
    return result | {"worker_cpu_ms_per_job": result["client_cpu_ms_per_request"]}


def _bare_burst(
    rig: Rig, worker: ManagedProcess, sim: ManagedProcess, count: int, tag: str
) -> dict[str, Any]:
    """Enqueue ``count`` jobs for the floor; done when the simulator has seen them all
    (the bare task keeps no outcome). Rate = jobs / (first enqueue → last request seen)."""
    producer = Producer(create_app(Settings(broker_url=rig.url)), BARE_QUEUE)
    seen = _sim_requests(sim)
    meter = CpuMeter({"workers": [worker.pid]}).start()
    started = time.time()
    producer.enqueue_many(jobs.validated(jobs.rows(tag, count)), keep=False)
    done_at: list[float] = []

    def all_seen() -> bool:
        if _sim_requests(sim) >= seen + count:
            done_at.append(time.time())
        return bool(done_at)

    wait_until(all_seen, max(60.0, count / 10), f"{count} requests of the floor", 0.02)
    cpu = meter.stop()
    seconds = done_at[0] - started
    return {
        "jobs": count,
        "seconds": round(seconds, 3),
        "rate": round(count / seconds, 1),
        "cpu_seconds": cpu,
        "worker_cpu_ms_per_job": round(cpu["workers"] * 1000 / count, 2),
    }


def _sim_requests(sim: ManagedProcess) -> int:
    stats = httpx.get(f"{sim.extra['root']}/_sim/stats", params={"conferences": "0"}, timeout=5)
    return int(stats.json()["requests"])


def _paced(
    rig: Rig, sim: ManagedProcess, name: str, tree: Path | None, offered: float, plan: CostPlan
) -> dict[str, Any]:
    """Jobs at ``offered``/s, below saturation: latency with the queue mostly empty."""
    count = max(100, int(offered * plan.paced_seconds))
    with ExitStack() as stack:
        env = {"CONFREC_CONCURRENCY": str(DEFAULT_CONCURRENCY)}
        workers = rig.workers(stack, sim, [f"paced-{_tag_of(name)}"], source=tree, env=env)
        burst(rig, workers, sim, WARM_JOBS, f"paced-{_tag_of(name)}-warm")
        return paced(rig, offered, count, LATENCY_MS, f"paced-{_tag_of(name)}")


def _median(rounds: list[dict[str, dict[str, Any]]], name: str) -> dict[str, Any]:
    """The round with the median rate (its own CPU figures with it), and every rate."""
    runs = sorted((r[name] for r in rounds), key=lambda run: float(run["rate"]))
    chosen = runs[(len(runs) - 1) // 2]
    return chosen | {"rates": [r[name]["rate"] for r in rounds]}


def _ratios(at: dict[str, dict[str, Any]]) -> dict[str, float]:
    def rate(name: str) -> float:
        return float(at[name]["rate"]) if name in at else 0.0

    def cpu(name: str) -> float:
        return float(at[name]["worker_cpu_ms_per_job"]) if name in at else 0.0

    out = {
        "bare_to_raw": rate(BARE) / rate(RAW),
        "confrec_to_bare": rate(CONFREC) / rate(BARE),
        "confrec_to_raw": rate(CONFREC) / rate(RAW),
        "confrec_cpu_to_raw": cpu(CONFREC) / cpu(RAW),
    }
    if BEFORE in at:
        out |= {
            "before_to_bare": rate(BEFORE) / rate(BARE),
            "before_to_raw": rate(BEFORE) / rate(RAW),
            "before_cpu_to_raw": cpu(BEFORE) / cpu(RAW),
            "speedup": rate(CONFREC) / rate(BEFORE),
        }
    return {k: round(v, 3) for k, v in out.items()}
