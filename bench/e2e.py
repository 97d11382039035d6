"""Measurement 2: jobs through real workers against the simulator, beside raw httpx.

One phase per simulator latency: raw httpx (before), a burst of jobs through 2 workers
x 16 threads (throughput, CPU per job), a paced run at a fraction of that throughput
(latency and queue overhead below saturation), raw httpx again (after, to see drift).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import jobs
from bench.proc_stats import CpuMeter
from bench.procs import Rig
from bench.profiling import start_pyspy, summarize_pyspy
from bench.rawhttp import raw_rate
from confrec.worker.local.processes import ManagedProcess

RAW_THREADS = 32


@dataclass(frozen=True)
class E2EPlan:
    jobs: int
    raw_jobs: int = 3000  # per raw httpx run (its rate settles within a few seconds)
    profile_jobs: int = 1500  # the extra burst py-spy watches
    paced_fraction: float = 0.5
    paced_seconds: float = 10.0
    paced_min: int = 200
    paced_max: int = 3000
    profile_seconds: int = 0  # py-spy a worker during an extra burst (0: skip)


def burst(
    rig: Rig,
    workers: list[ManagedProcess],
    sim: ManagedProcess,
    count: int,
    tag: str,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Enqueue ``count`` jobs at once; throughput = jobs / (first enqueue → last outcome).
    With ``timeout_s``, stops waiting then: the rate is of the outcomes that arrived."""
    client = rig.client()
    after = last_stream_id(client)
    assert rig.redis_proc is not None
    meter = CpuMeter(
        {
            "workers": [w.pid for w in workers],
            "redis": [rig.redis_proc.pid],
            "simulator": [sim.pid],
        }
    ).start()
    calls_before = _command_calls(client)
    t0 = time.time()
    jobs.producer(rig.url).enqueue_many(jobs.validated(jobs.rows(tag, count)), keep=False)
    enqueue_s = time.time() - t0
    outcomes = jobs.read_outcomes(client, count, timeout_s or max(60.0, count / 10), after=after)
    cpu = meter.stop()
    calls = _command_calls(client)
    per_job = {
        name.removeprefix("cmdstat_"): round(
            (n - calls_before.get(name, 0)) / max(1, len(outcomes)), 2
        )
        for name, n in calls.items()
        if name not in _BENCH_COMMANDS
    }
    if not outcomes:
        return {
            "jobs": count,
            "outcomes": 0,
            "rate": 0.0,
            "cpu_seconds": cpu,
            "error": f"0 outcomes in {cpu['wall']:.0f} s",
        }
    latencies = jobs.latencies_ms(outcomes)
    seconds = jobs.last_finished(outcomes) - t0
    return {
        "jobs": count,
        "outcomes": len(outcomes),
        "statuses": jobs.statuses(outcomes),
        "enqueue_seconds": round(enqueue_s, 3),
        "seconds": round(seconds, 3),
        "rate": round(len(outcomes) / seconds, 1),
        "latency_p50_ms": jobs.percentile(latencies, 50),
        "latency_p99_ms": jobs.percentile(latencies, 99),
        "cpu_seconds": cpu,
        "worker_cpu_ms_per_job": round(cpu["workers"] * 1000 / len(outcomes), 2),
        "simulator_cpu_ms_per_job": round(cpu["simulator"] * 1000 / len(outcomes), 2),
        "redis_commands_per_job": round(sum(per_job.values()), 1),
        "redis_commands": {k: v for k, v in sorted(per_job.items()) if v >= 0.05},
    }


#: Commands the bench itself sends while measuring (reading outcomes, stats).
_BENCH_COMMANDS = {"cmdstat_xread", "cmdstat_xrevrange", "cmdstat_info", "cmdstat_script|load"}


def _command_calls(client: Any) -> dict[str, int]:
    stats: dict[str, dict[str, int]] = client.info("commandstats")
    return {name: int(v["calls"]) for name, v in stats.items()}


def paced(rig: Rig, rate: float, count: int, latency_ms: float, tag: str) -> dict[str, Any]:
    """Enqueue ``count`` jobs at ``rate``/s in small steps; latency and queue overhead."""
    client = rig.client()
    after = last_stream_id(client)
    producer = jobs.producer(rig.url)
    data = jobs.rows(tag, count)
    start = time.monotonic()
    sent = 0
    while sent < count:
        due = min(count, int((time.monotonic() - start) * rate) + 1)
        if due > sent:
            producer.enqueue_many(jobs.validated(data[sent:due]), keep=False)
            sent = due
        else:
            time.sleep(0.002)
    outcomes = jobs.read_outcomes(client, count, 60 + count / 10, after=after)
    latencies = jobs.latencies_ms(outcomes)
    overhead = [v - latency_ms for v in latencies]
    return {
        "jobs": count,
        "outcomes": len(outcomes),
        "offered_rate": round(rate, 1),
        "latency_p50_ms": jobs.percentile(latencies, 50),
        "latency_p99_ms": jobs.percentile(latencies, 99),
        "overhead_p50_ms": jobs.percentile(overhead, 50),
        "overhead_p99_ms": jobs.percentile(overhead, 99),
        "overhead_max_ms": round(overhead[-1], 1) if overhead else 0.0,
        "latencies_ms": [round(v, 1) for v in latencies],
    }


def last_stream_id(client: Any) -> str:
    newest = client.xrevrange(jobs.STREAM, count=1)
    return newest[0][0].decode() if newest else "0-0"


def reset_simulator(sim: ManagedProcess) -> None:
    httpx.post(f"{sim.extra['root']}/_sim/reset", timeout=10)


def end_to_end(rig: Rig, latency_ms: float, plan: E2EPlan, logdir: Path) -> dict[str, Any]:
    """raw httpx, then 2 workers (burst, paced, profiled burst), then raw httpx again."""
    tag = f"e2e{latency_ms:g}"
    rig.flush()
    result: dict[str, Any] = {"latency_ms": latency_ms, "workers": "2 x threads 16"}
    with ExitStack() as stack:
        sim = rig.simulator(stack, latency_ms)
        raw_before = raw(sim, plan.raw_jobs, f"{tag}-raw1")
        reset_simulator(sim)
        with ExitStack() as worker_stack:
            workers = rig.workers(worker_stack, sim, [f"{tag}-a", f"{tag}-b"])
            result["confrec"] = burst(rig, workers, sim, plan.jobs, f"{tag}-burst")
            rate = float(result["confrec"].get("rate", 0.0))
            if rate > 0:
                result["paced"] = _paced(rig, rate, latency_ms, plan, f"{tag}-pace")
            if plan.profile_seconds:
                result["worker_profile"] = _profiled_burst(rig, workers, sim, plan, logdir, tag)
        reset_simulator(sim)
        raw_after = raw(sim, plan.raw_jobs, f"{tag}-raw2")
    raw_mean = (raw_before["rate"] + raw_after["rate"]) / 2
    result["raw_httpx"] = {"before": raw_before, "after": raw_after, "rate": round(raw_mean, 1)}
    result["ratio_to_raw"] = round(rate / raw_mean, 3) if raw_mean else 0.0
    return result


def _paced(
    rig: Rig, burst_rate: float, latency_ms: float, plan: E2EPlan, tag: str
) -> dict[str, Any]:
    rate = burst_rate * plan.paced_fraction
    count = int(min(plan.paced_max, max(plan.paced_min, rate * plan.paced_seconds)))
    return paced(rig, rate, count, latency_ms, tag)


def raw(sim: ManagedProcess, count: int, tag: str, threads: int = RAW_THREADS) -> dict[str, Any]:
    """raw_rate with the CPU it took: this process (the client) and the simulator."""
    meter = CpuMeter({"simulator": [sim.pid]}).start()
    result = raw_rate(sim.extra["base_url"], count, threads, tag)
    cpu = meter.stop()
    done = max(1, result["requests"])
    return result | {
        "cpu_seconds": cpu,
        "client_cpu_ms_per_request": round(cpu["bench"] * 1000 / done, 2),
        "simulator_cpu_ms_per_request": round(cpu["simulator"] * 1000 / done, 2),
    }


def _profiled_burst(
    rig: Rig,
    workers: list[ManagedProcess],
    sim: ManagedProcess,
    plan: E2EPlan,
    logdir: Path,
    tag: str,
) -> dict[str, Any]:
    """An extra burst (not timed) with py-spy on one worker: what holds its GIL."""
    out = logdir / f"pyspy-{tag}.txt"
    spy = start_pyspy(workers[0].pid, plan.profile_seconds, out)
    if spy is None:
        return {"error": "py-spy not installed (pip install py-spy into .venv)"}
    try:
        time.sleep(0.5)  # let it attach
        burst(rig, workers, sim, plan.profile_jobs, f"{tag}-prof")
        spy.wait(timeout=plan.profile_seconds + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait(5)
    return summarize_pyspy(out)
