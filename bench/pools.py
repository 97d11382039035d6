"""Measurement 4: throughput against concurrency, for each way of running jobs on one host.

Against the light fake Telnyx at 20 ms (bench/fake.py), at each concurrency C (requests in
flight at once), one ``confrec worker`` command per run:

* *threads, 1 process*: ``CONFREC_WORKER_PROCESSES=1``, C threads (the shape before
  issue 23);
* *processes x threads* (the default): one Celery process per CPU, C / processes threads
  in each;
* *prefork*: ``--pool prefork --concurrency C`` (one process per slot);
* *raw httpx*: C threads sharing one ``httpx.Client`` in this process (the yardstick).

gevent is not measured: it is not installed in the project's venv (and ``confrec worker``
does not monkeypatch for it), and the bench adds no dependency. The pool each run got is
read from the worker's banner; each run is warmed with 2 jobs per slot, then timed with a
budget (the rate is of what finished).
"""

from __future__ import annotations

import importlib.util
import re
import time
from contextlib import ExitStack
from typing import Any

from bench.e2e import burst, raw, reset_simulator
from bench.proc_stats import memory
from bench.procs import Rig, worker_processes
from confrec.worker.local.processes import ManagedProcess

LATENCY_MS = 20.0
RAW, THREADS, DEFAULT, PREFORK = "raw httpx", "threads, 1 process", "default", "prefork"
#: Above this, prefork's one interpreter per slot is more memory than a host gives a worker.
PREFORK_MAX = 32


def ways(concurrency: int) -> dict[str, tuple[dict[str, str], list[str]]]:
    """way → (worker environment, worker arguments) at ``concurrency`` in all."""
    per_process = max(1, concurrency // worker_processes({}))
    out = {
        THREADS: (
            {"CONFREC_WORKER_PROCESSES": "1", "CONFREC_CONCURRENCY": str(concurrency)},
            ["--pool", "threads"],
        ),
        DEFAULT: ({"CONFREC_CONCURRENCY": str(per_process)}, ["--pool", "threads"]),
    }
    if concurrency <= PREFORK_MAX:
        out[PREFORK] = ({}, ["--pool", "prefork", "--concurrency", str(concurrency)])
    return out


def gevent_note() -> str:
    if importlib.util.find_spec("gevent") is None:
        return "gevent not installed in the venv: not measured (the bench adds no dependency)"
    return "gevent installed but not measured: confrec worker does not monkeypatch for it"


def compare_pools(rig: Rig, count: int, levels: tuple[int, ...], budget_s: float) -> dict[str, Any]:
    processes = worker_processes({})
    result: dict[str, Any] = {
        "jobs": count,
        "latency_ms": LATENCY_MS,
        "budget_s": budget_s,
        "levels": list(levels),
        "processes_per_worker": processes,
        "default_label": f"{processes} processes x threads (default)",
        "gevent": gevent_note(),
    }
    runs: dict[str, dict[str, Any]] = {RAW: {}, THREADS: {}, DEFAULT: {}, PREFORK: {}}
    with ExitStack() as outer:
        fake = rig.fake(outer, LATENCY_MS)
        for c in levels:
            runs[RAW][str(c)] = raw(fake, count, f"poolraw{c}", threads=c)
            for way, (env, args) in ways(c).items():
                tag = f"pool-{way.split(',')[0]}-{c}"
                runs[way][str(c)] = _one(rig, fake, env, args, c, count, budget_s, tag)
    rig.flush()
    result["runs"] = runs
    return result


def _one(
    rig: Rig,
    fake: ManagedProcess,
    env: dict[str, str],
    args: list[str],
    concurrency: int,
    count: int,
    budget_s: float,
    tag: str,
) -> dict[str, Any]:
    t0 = time.monotonic()
    rig.flush()  # no worker runs now: what an earlier run left unfinished is gone
    reset_simulator(fake)
    with ExitStack() as stack:
        workers = rig.workers(stack, fake, [tag], args, env=env)
        banner = re.search(r"concurrency: (\d+ \(\w+\))", workers[0].log())
        idle = memory(workers[0].pid)
        # every slot's first job (connections, a prefork child's first task) before timing
        burst(rig, workers, fake, 2 * concurrency, f"{tag}-warm", timeout_s=30)
        result = burst(rig, workers, fake, count, tag, timeout_s=budget_s)
        acks = workers[0].log().count("Couldn't ack")
        mem = memory(workers[0].pid)
    return result | {
        "complete": result.get("outcomes") == count,
        "rss_idle_mib": idle.rss_mib,
        "rss_mib": mem.rss_mib,
        "pss_mib": mem.pss_mib,
        "processes": mem.processes,
        "failed_acks_logged": acks,
        "banner": banner.group(1) if banner else "?",
        "run_seconds": round(time.monotonic() - t0, 1),
    }
