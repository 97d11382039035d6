"""Measurement 9 (issue 23): a burst of N jobs enqueued at once, against a fleet rate limit.

N jobs (full run 5,000) enqueued at once, two ways — one ``POST /v1/jobs/bulk`` to a
``confrec serve``, and ``confrec bulk FILE`` — to 2 ``confrec worker`` commands (two hosts'
worth, each as shipped: one Celery process per CPU) with ``CONFREC_RATE_LIMIT`` = L
(requests/s across every worker; ``CONFREC_RATE_BURST`` its default, L rounded up), against
the light fake Telnyx at 20 ms (bench/fake.py), which records each request's arrival.

* *completion*: the first enqueue (the earliest ``enqueued_at`` of the burst's outcomes) →
  the last request of the burst reaching the fake; against N/L, the physical floor, and the
  target ≤ 1.1 x N/L + 2 s. *From start* counts from the moment the bulk was sent (the
  request, or the ``confrec bulk`` command started) instead;
* *enqueued → request sent*: per job, its ``enqueued_at`` → its first request's arrival at
  the fake (matched by conference), p50/p90/p99/max;
* *capacity*: the same burst with no limit, through 1 worker command and through 2: the
  request rate they reach is the highest L this host sustains (here both share 2 cores).

Between two runs the fleet's bucket is left to refill (burst / L seconds).
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import jobs
from bench.cost import server_requests
from bench.e2e import last_stream_id
from bench.proc_stats import CpuMeter
from bench.procs import Rig
from confrec.worker.local.processes import CONFREC, ManagedProcess, start_serve, wait_until

TOKEN = "bench-burst-token"
LATENCY_MS = 20.0
HTTP, FILE, PRODUCER = "HTTP bulk", "bulk file", "producer"


@dataclass(frozen=True)
class BurstPlan:
    jobs: int = 5000
    limits: tuple[float, ...] = (100.0, 400.0)
    workers: int = 2
    capacity_jobs: int = 5000


def burst_phase(rig: Rig, plan: BurstPlan) -> dict[str, Any]:
    result: dict[str, Any] = {
        "jobs": plan.jobs,
        "latency_ms": LATENCY_MS,
        "workers": plan.workers,
        "server": "light fake (bench/fake.py)",
        "limited": {},
        "capacity": {},
    }
    rig.flush()
    with ExitStack() as outer:
        fake = rig.fake(outer, LATENCY_MS)
        serve = start_serve(
            rig.workdir, {"CONFREC_BROKER_URL": rig.url, "CONFREC_API_TOKENS": TOKEN}
        )
        outer.callback(serve.stop)
        for limit in plan.limits:
            env = {"CONFREC_RATE_LIMIT": f"{limit:g}"}
            with ExitStack() as stack:
                names = [f"burst{limit:g}-{i}" for i in range(plan.workers)]
                workers = rig.workers(stack, fake, names, env=env)
                runs: dict[str, Any] = {}
                for mode in (HTTP, FILE):
                    time.sleep(math.ceil(limit) / limit + 0.2)  # the bucket full again
                    tag = f"L{limit:g}{mode.split()[0]}"
                    runs[mode] = _run(rig, fake, serve, workers, mode, plan.jobs, tag, limit)
                result["limited"][f"{limit:g}"] = runs
        for count in sorted({1, plan.workers}):
            with ExitStack() as stack:
                names = [f"capacity{count}-{i}" for i in range(count)]
                workers = rig.workers(stack, fake, names)
                tag = f"cap{count}"
                run = _run(rig, fake, serve, workers, PRODUCER, plan.capacity_jobs, tag, None)
                result["capacity"][str(count)] = run
    rig.flush()
    return result


def _run(
    rig: Rig,
    fake: ManagedProcess,
    serve: ManagedProcess,
    workers: list[ManagedProcess],
    mode: str,
    count: int,
    tag: str,
    limit: float | None,
) -> dict[str, Any]:
    client = rig.client()
    after = last_stream_id(client)
    since = server_requests(fake)
    rows = jobs.rows(tag, count)
    bulk_file = jobs.write_jsonl(rig.workdir / f"{tag}.jsonl", tag, count) if mode == FILE else None
    assert rig.redis_proc is not None
    meter = CpuMeter(
        {
            "workers": [w.pid for w in workers],
            "redis": [rig.redis_proc.pid],
            "fake": [fake.pid],
            "serve": [serve.pid],
        }
    ).start()
    started = time.time()
    if mode == HTTP:
        _post_bulk(serve, rows)
    elif bulk_file is not None:
        _bulk_command(rig, fake, bulk_file)
    else:
        jobs.producer(rig.url).enqueue_many(jobs.validated(rows), keep=False)
    enqueued = time.time()
    bound = 60.0 + 3 * count / (limit or 100.0)
    wait_until(
        lambda: server_requests(fake) >= since + count, bound, f"{count} requests ({tag})", 0.05
    )
    cpu = meter.stop()
    outcomes = jobs.read_outcomes(client, count, 60.0, after=after)
    arrivals, requests = _arrivals(fake, since, f"bench-{tag}-")
    return {
        "mode": mode,
        "repeated_requests": requests - len(arrivals),
        "limit": limit,
        "enqueue_seconds": round(enqueued - started, 3),
        "cpu_seconds": cpu,
        "worker_cpu_ms_per_job": round(cpu["workers"] * 1000 / count, 2),
        "statuses": jobs.statuses(outcomes),
    } | summarize(outcomes, arrivals, count, limit, started)


def summarize(
    outcomes: list[dict[str, Any]],
    arrivals: dict[str, float],
    count: int,
    limit: float | None,
    started: float,
) -> dict[str, Any]:
    """Completion against N/L and the enqueued → request latencies, from the outcomes'
    ``enqueued_at`` and the fake's first arrival per conference."""
    enqueued = {
        o["conference_id"]: jobs.timestamp(o["enqueued_at"])
        for o in outcomes
        if o.get("enqueued_at")
    }
    first_enqueue = min(enqueued.values(), default=started)
    last, first = max(arrivals.values(), default=0.0), min(arrivals.values(), default=0.0)
    seconds = last - first_enqueue
    latencies = sorted((t - enqueued[c]) * 1000 for c, t in arrivals.items() if c in enqueued)
    out: dict[str, Any] = {
        "jobs": count,
        "requests_seen": len(arrivals),
        "outcomes": len(outcomes),
        "seconds": round(seconds, 3),
        "seconds_from_start": round(last - started, 3),
        "rate": round(len(arrivals) / seconds, 1) if seconds > 0 else 0.0,
        "request_rate": round(len(arrivals) / (last - first), 1) if last > first else 0.0,
        "latency_ms": {f"p{q}": jobs.percentile(latencies, q) for q in (50, 90, 99)}
        | {"max": round(latencies[-1], 1) if latencies else 0.0},
    }
    if limit:
        floor = count / limit
        target = 1.1 * floor + 2
        out |= {
            "floor_seconds": round(floor, 3),
            "ratio_to_floor": round(seconds / floor, 3),
            "target_seconds": round(target, 3),
            "met": seconds <= target and len(arrivals) == count,
        }
    return out


def _post_bulk(serve: ManagedProcess, rows: list[dict[str, Any]]) -> None:
    answer = httpx.post(
        f"{serve.extra['root']}/v1/jobs/bulk",
        json=rows,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=120,
    )
    answer.raise_for_status()


def _bulk_command(rig: Rig, fake: ManagedProcess, path: Path) -> None:
    """``confrec bulk FILE`` as a user runs it (no --wait): validate, then enqueue all."""
    done = subprocess.run(
        [*CONFREC, "bulk", str(path)],
        env={**os.environ, **rig.worker_env(fake)},
        cwd=rig.workdir,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode != 0:
        raise RuntimeError(f"confrec bulk exited {done.returncode}: {done.stderr[-2000:]}")


def _arrivals(fake: ManagedProcess, since: int, prefix: str) -> tuple[dict[str, float], int]:
    """conference → the first arrival of a request for it at the fake, this burst's only;
    and how many of this burst's requests arrived (a retried job counts each attempt)."""
    reply = httpx.get(f"{fake.extra['root']}/_fake/records", params={"since": since}, timeout=30)
    first: dict[str, float] = {}
    requests = 0
    for at, conference, _command_id in reply.json()["records"]:
        if conference.startswith(prefix):
            requests += 1
            first.setdefault(conference, float(at))
    return first, requests
