"""Worker-side candidate changes, A/B against the shipped worker in the same run.

Each variant runs the same burst (2 workers x 16 threads, same simulator latency), in
interleaved rounds (A B C D E, A B C D E) so drift on this shared machine hits each alike;
the rate reported is the mean of the rounds. Variants marked (proto) are monkeypatches
from bench/worker_patches.py, not confrec code.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from bench.e2e import burst, reset_simulator
from bench.procs import Rig


@dataclass(frozen=True)
class Variant:
    label: str
    args: list[str]
    patches: list[str] | None = None


VARIANTS = [
    Variant("shipped", []),
    Variant("no task events (proto)", [], ["no-events"]),
    Variant("outcome log line at DEBUG (proto)", [], ["quiet-logs"]),
    Variant("both (proto)", [], ["no-events", "quiet-logs"]),
]
QUICK_VARIANTS = [VARIANTS[0], VARIANTS[3]]


def _mean(rounds: list[dict[str, Any]], key: str) -> float:
    values = [float(r.get(key) or 0.0) for r in rounds]
    return round(sum(values) / len(values), 2) if values else 0.0


def compare_variants(
    rig: Rig, count: int, latency_ms: float, variants: list[Variant], rounds: int
) -> dict[str, Any]:
    found: dict[str, list[dict[str, Any]]] = {v.label: [] for v in variants}
    with ExitStack() as outer:
        sim = rig.simulator(outer, latency_ms)
        for r in range(rounds):
            for n, variant in enumerate(variants):
                rig.flush()
                reset_simulator(sim)
                with ExitStack() as stack:
                    names = [f"var{r}{n}a", f"var{r}{n}b"]
                    workers = rig.workers(stack, sim, names, variant.args, variant.patches)
                    found[variant.label].append(burst(rig, workers, sim, count, f"var{r}{n}"))
    rig.flush()
    runs: dict[str, Any] = {}
    for label, results in found.items():
        runs[label] = {
            "rate": _mean(results, "rate"),
            "rates": [r.get("rate") for r in results],
            "worker_cpu_ms_per_job": _mean(results, "worker_cpu_ms_per_job"),
            "redis_commands_per_job": _mean(results, "redis_commands_per_job"),
            "others_share": [r.get("cpu_seconds", {}).get("others_share") for r in results],
            "rounds": results,
        }
    base = runs[variants[0].label]["rate"]
    for result in runs.values():
        result["ratio_to_baseline"] = round(result["rate"] / base, 3) if base else 0.0
    return {"jobs": count, "latency_ms": latency_ms, "rounds": rounds, "runs": runs}
