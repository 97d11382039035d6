"""Measurement 7: the cost per job — confrec beside the floor and the yardstick, in one run.

Against the light fake Telnyx at 20 ms (bench/fake.py: it costs little CPU, so the
worker's shows), each contestant in a fresh process, on the same jobs, at the same
concurrency C = 16 (requests in flight at once):

* *raw httpx*: C threads sharing one ``httpx.Client`` in this process (the yardstick);
* *bare Celery*: ``celery -A bench.bare worker``, threads pool, concurrency C, a task that
  only POSTs (the floor: what Celery itself costs);
* *confrec*: ``confrec worker`` as shipped (one Celery process per CPU), C / processes
  threads in each, so C in all;
* *confrec default*: the same at its default concurrency, 16 threads per process;
* *confrec 1 process*: ``CONFREC_WORKER_PROCESSES=1``, 16 threads (the old shape);
* *confrec before*: ``confrec worker`` from the tree of ``BASELINE`` (``git archive``), 16
  threads, so the before/after figures come from the same run (``--baseline`` picks another).

The six alternate for ``rounds`` rounds (each round starting one further along, so none
always goes first) and each figure is the median of its rounds; then confrec now and before
are paced at the same rate (half the slower one's burst rate) for the enqueue → outcome
latency. ``with_simulator`` repeats the rounds against ``confrec simulate`` (uvicorn).
"""

from __future__ import annotations

import statistics
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
from bench.proc_stats import CpuMeter, descendants
from bench.procs import BARE_QUEUE, Rig, worker_processes
from bench.ref import unpack
from confrec.config.settings import Settings
from confrec.tasks.publishing.producer import Producer
from confrec.worker.app import create_app
from confrec.worker.local.processes import ManagedProcess, wait_until

#: The last commit before the work of issue 23 (past the per-message floor): "before".
BASELINE = "1f2989e"
LATENCY_MS = 20.0
CONCURRENCY = 16
RAW, BARE, CONFREC, DEFAULT = "raw httpx", "bare Celery", "confrec", "confrec default"
ONE, BEFORE = "confrec 1 process", "confrec before"
#: The contestants that are confrec, the one under test first.
CONFRECS = (CONFREC, DEFAULT, ONE, BEFORE)
WARM_JOBS = 50

Run = Callable[[int, str], dict[str, Any]]


@dataclass(frozen=True)
class CostPlan:
    jobs: int = 1500
    rounds: int = 5
    paced_seconds: float = 6.0
    baseline: str | None = BASELINE
    with_simulator: bool = False


@dataclass(frozen=True)
class Contestant:
    tree: Path | None
    env: dict[str, str]


def contestants(baseline_tree: Path | None) -> dict[str, Contestant | None]:
    """name → how its worker runs (None: not a confrec worker)."""
    processes = worker_processes({})
    per_process = str(max(1, CONCURRENCY // processes))
    c16 = {"CONFREC_CONCURRENCY": str(CONCURRENCY)}
    out: dict[str, Contestant | None] = {
        RAW: None,
        BARE: None,
        CONFREC: Contestant(None, {"CONFREC_CONCURRENCY": per_process}),
        DEFAULT: Contestant(None, c16),
        ONE: Contestant(None, c16 | {"CONFREC_WORKER_PROCESSES": "1"}),
    }
    if baseline_tree is not None:
        out[BEFORE] = Contestant(baseline_tree, c16)
    return out


def cost_phase(rig: Rig, plan: CostPlan) -> dict[str, Any]:
    drift = bare.differences(create_app(Settings()).conf)
    if drift:
        raise RuntimeError(f"bench/bare.py no longer matches confrec's app: {drift}")
    result: dict[str, Any] = {
        "latency_ms": LATENCY_MS,
        "baseline": plan.baseline,
        "server": "light fake (bench/fake.py)",
        "processes_per_worker": worker_processes({}),
    }
    with tempfile.TemporaryDirectory(prefix="confrec-bench-cost-") as tmp, ExitStack() as stack:
        tree = unpack(plan.baseline, Path(tmp)) if plan.baseline else None
        field = contestants(tree)
        result["contestants"] = {
            name: c.env if c else {"threads": str(CONCURRENCY)} for name, c in field.items()
        }
        fake = rig.fake(stack, LATENCY_MS)
        rig.flush()
        result |= _rounds(rig, fake, field, plan)
        # The same offered rate for both: half the slower one's burst rate.
        now_and_before = [n for n in (CONFREC, BEFORE) if n in field]
        offered = min(float(result["at_16"][n]["rate"]) for n in now_and_before) / 2
        result["paced"] = {
            name: _paced(rig, fake, name, field[name], offered, plan) for name in now_and_before
        }
        result["server_cpu_ms_per_request"] = _server_cpu(result["at_16"])
        if plan.with_simulator:
            sim = rig.simulator(stack, LATENCY_MS)
            result["simulator"] = _rounds(rig, sim, field, plan)
    return result


def _rounds(
    rig: Rig, server: ManagedProcess, field: dict[str, Contestant | None], plan: CostPlan
) -> dict[str, Any]:
    names = list(field)
    rounds: list[dict[str, dict[str, Any]]] = []
    for r in range(plan.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        rounds.append(
            {name: _measure(rig, server, name, field[name], plan.jobs, f"r{r}") for name in order}
        )
    at = {name: _median(rounds, name) for name in names}
    return {"rounds": rounds, "at_16": at, "ratios": ratios(at)}


def _measure(
    rig: Rig,
    server: ManagedProcess,
    name: str,
    how: Contestant | None,
    count: int,
    tag: str,
) -> dict[str, Any]:
    tag = f"{tag}-{name.replace(' ', '')}"
    with ExitStack() as stack:
        run, processes = _contestant(rig, server, stack, name, how)
        run(WARM_JOBS, f"{tag}-warm")
        return {"concurrency": CONCURRENCY, "processes": processes} | run(count, tag)


def _contestant(
    rig: Rig, server: ManagedProcess, stack: ExitStack, name: str, how: Contestant | None
) -> tuple[Run, int]:
    if name == RAW:
        return (lambda count, tag: _per_job(raw(server, count, tag, threads=CONCURRENCY))), 1
    if how is None:  # the floor
        worker = rig.bare_worker(stack, server, CONCURRENCY)
        return (lambda count, tag: _bare_burst(rig, worker, server, count, tag)), 1
    label = name.replace(" ", "-")
    workers = rig.workers(stack, server, [label], source=how.tree, env=how.env)
    processes = 1 + len(descendants(workers[0].pid))
    return (lambda count, tag: burst(rig, workers, server, count, tag)), processes


def _per_job(result: dict[str, Any]) -> dict[str, Any]:
    """raw httpx's figures under the names the workers' have: CPU per job is the client's."""
    return result | {
        "worker_cpu_ms_per_job": result["client_cpu_ms_per_request"],
        "simulator_cpu_ms_per_job": result["simulator_cpu_ms_per_request"],
    }


def _bare_burst(
    rig: Rig, worker: ManagedProcess, server: ManagedProcess, count: int, tag: str
) -> dict[str, Any]:
    """Enqueue ``count`` jobs for the floor; done when the server has seen them all
    (the bare task keeps no outcome). Rate = jobs / (first enqueue → last request seen)."""
    producer = Producer(create_app(Settings(broker_url=rig.url)), BARE_QUEUE)
    seen = server_requests(server)
    meter = CpuMeter({"workers": [worker.pid], "simulator": [server.pid]}).start()
    started = time.time()
    producer.enqueue_many(jobs.validated(jobs.rows(tag, count)), keep=False)
    done_at: list[float] = []

    def all_seen() -> bool:
        if server_requests(server) >= seen + count:
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
        "simulator_cpu_ms_per_job": round(cpu["simulator"] * 1000 / count, 2),
    }


def server_requests(server: ManagedProcess) -> int:
    """record_starts the simulator or the fake has answered so far."""
    stats = httpx.get(f"{server.extra['root']}/_sim/stats", params={"conferences": "0"}, timeout=5)
    return int(stats.json()["requests"])


def _paced(
    rig: Rig,
    server: ManagedProcess,
    name: str,
    how: Contestant | None,
    offered: float,
    plan: CostPlan,
) -> dict[str, Any]:
    """Jobs at ``offered``/s, below saturation: latency with the queue mostly empty."""
    assert how is not None
    count = max(100, int(offered * plan.paced_seconds))
    label = f"paced-{name.replace(' ', '-')}"
    with ExitStack() as stack:
        workers = rig.workers(stack, server, [label], source=how.tree, env=how.env)
        burst(rig, workers, server, WARM_JOBS, f"{label}-warm")
        return paced(rig, offered, count, LATENCY_MS, label)


def _median(rounds: list[dict[str, dict[str, Any]]], name: str) -> dict[str, Any]:
    """Each figure the median of the rounds' (rate and CPU per job apart), every round's
    values beside it; the rest (CPU seconds, Redis commands) from the median-rate round."""
    runs = sorted((r[name] for r in rounds), key=lambda run: float(run.get("rate", 0.0)))
    rates = [float(r[name].get("rate", 0.0)) for r in rounds]
    cpus = [float(r[name].get("worker_cpu_ms_per_job") or 0.0) for r in rounds]
    return runs[(len(runs) - 1) // 2] | {
        "rate": round(statistics.median(rates), 1),
        "worker_cpu_ms_per_job": round(statistics.median(cpus), 2),
        "rates": rates,
        "cpu_ms_per_job": cpus,
    }


def ratios(at: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each confrec contestant against raw httpx and the floor, plus now / before."""

    def rate(name: str) -> float:
        return float(at[name]["rate"])

    def cpu(name: str) -> float:
        return float(at[name]["worker_cpu_ms_per_job"])

    def share(a: float, b: float) -> float:
        return round(a / b, 3) if b else 0.0

    out: dict[str, Any] = {"bare_to_raw": share(rate(BARE), rate(RAW))}
    for name in (n for n in CONFRECS if n in at):
        out[name] = {
            "to_raw": share(rate(name), rate(RAW)),
            "to_bare": share(rate(name), rate(BARE)),
            "cpu_to_raw": share(cpu(name), cpu(RAW)),
        }
    if BEFORE in at:
        out["speedup"] = share(rate(CONFREC), rate(BEFORE))
        out["cpu_saved"] = round(1 - share(cpu(CONFREC), cpu(BEFORE)), 3)
    return out


def _server_cpu(at: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The fake's CPU per request in each contestant's median run: it stays small."""
    return {name: float(run.get("simulator_cpu_ms_per_job") or 0.0) for name, run in at.items()}
