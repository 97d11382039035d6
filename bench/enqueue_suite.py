"""The enqueue phase: every producer-side number, side by side against one redis-server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import enqueue
from bench.procs import Rig
from bench.profiling import profile_enqueue


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate (the upper one of an even count), every round's rate
    beside it."""
    ranked = sorted(runs, key=lambda r: r["rate"])
    return ranked[len(ranked) // 2] | {"rates": [r["rate"] for r in runs]}


def enqueue_phase(
    rig: Rig,
    sizes: list[int],
    rounds_small: int,
    parallel_jobs: int,
    profile_jobs: int,
    workdir: Path,
) -> dict[str, Any]:
    """Each size: the API (Producer.enqueue_many) and a bulk file (run_bulk) in turn,
    interleaved so drift on the shared machine hits them alike; sizes up to 10,000 get
    ``rounds_small`` rounds and report the median."""
    rig.flush()
    out: dict[str, Any] = {"sizes": {}}
    for size in sizes:
        runs: dict[str, list[dict[str, Any]]] = {"api": [], "bulk": []}
        for _ in range(rounds_small if size <= 10_000 else 1):
            tag = f"q{size}"
            runs["api"].append(enqueue.api_rate(rig.url, size, tag))
            runs["bulk"].append(enqueue.bulk_rate(rig.url, size, workdir, tag))
        out["sizes"][str(size)] = {key: _median(found) for key, found in runs.items()}
    big = max(sizes)
    out["redis_benchmark"] = {
        "P1": enqueue.redis_benchmark(rig.port, big, 1),
        "P16": enqueue.redis_benchmark(rig.port, big, 16),
    }
    # 1 process: the API run of the same size above (same redis-server, minutes apart).
    single = out["sizes"].get(str(parallel_jobs), {}).get("api")
    out["parallel"] = {
        "1 process": single or enqueue.api_rate(rig.url, parallel_jobs, "par1"),
        "2 processes": enqueue.parallel_rate(rig.url, parallel_jobs, 2, "par2"),
    }
    one = out["parallel"]["1 process"]["rate"]
    out["parallel"]["speedup"] = round(out["parallel"]["2 processes"]["rate"] / one, 2)
    out["profile"] = profile_enqueue(rig.url, profile_jobs)
    rig.flush()
    return out
