"""``python -m bench [--quick] [--only PHASES]``: run the benchmarks, print the table,
write bench/results/latest.json. Every process started is stopped; every wait bounded."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.batch import batch_phase
from bench.bodies import bodies_phase
from bench.brokers import broker_phase
from bench.burst import BurstPlan, burst_phase
from bench.cost import BASELINE, CostPlan, cost_phase
from bench.e2e import E2EPlan, end_to_end
from bench.enqueue_suite import enqueue_phase
from bench.plots import write_plots
from bench.pools import compare_pools
from bench.procs import Rig
from bench.profiling import pyspy_available
from bench.ref import compare_ref
from bench.rss import rss_growth
from bench.service import service_phase
from bench.table import build_rows, render

RESULTS = Path(__file__).resolve().parent / "results"
#: Where a full run's plots go: docs/benchmarks.md shows them. --quick keeps its own.
DOC_PLOTS = Path(__file__).resolve().parent.parent / "docs" / "img"
PHASES = [
    "enqueue",
    "cost",
    "burst",
    "e2e",
    "rss",
    "pools",
    "service",
    "bodies",
    "brokers",
    "batch",
]  # "ref": only with --compare-ref


@dataclass(frozen=True)
class Plan:
    enqueue_sizes: list[int]
    enqueue_rounds_small: int
    parallel_jobs: int
    profile_jobs: int
    e2e: dict[int, E2EPlan]  # simulator latency (ms) → plan
    rss_target: int
    rss_checkpoints: list[int]
    rss_budget_s: float
    rss_every: int
    pool_jobs: int
    pool_budget_s: float
    pool_levels: tuple[int, ...]
    service_webhooks: int
    service_bulk_jobs: int
    broker_enqueue_jobs: int
    broker_e2e_jobs: int
    broker_env: dict[str, str]
    cost: CostPlan = field(default_factory=CostPlan)
    burst: BurstPlan = field(default_factory=BurstPlan)
    ref_enqueue_jobs: int = 10_000
    ref_e2e_jobs: int = 1500
    ref_rounds: int = 2
    notes: list[str] = field(default_factory=list)


FULL = Plan(
    enqueue_sizes=[10_000, 100_000],
    enqueue_rounds_small=2,
    parallel_jobs=100_000,
    profile_jobs=10_000,
    e2e={
        20: E2EPlan(jobs=5000, profile_seconds=8),
        100: E2EPlan(jobs=5000),
    },
    rss_target=100_000,
    rss_checkpoints=[10_000, 50_000, 100_000],
    rss_budget_s=90,
    rss_every=5000,
    pool_jobs=1200,
    pool_budget_s=15,
    pool_levels=(4, 8, 16, 32),
    service_webhooks=2000,
    service_bulk_jobs=10_000,
    broker_enqueue_jobs=5000,
    broker_e2e_jobs=2000,
    broker_env={},  # the defaults: what a user's fleet runs
)
QUICK = Plan(
    enqueue_sizes=[1000, 2000],
    enqueue_rounds_small=1,
    parallel_jobs=3000,
    profile_jobs=1000,
    e2e={
        20: E2EPlan(
            jobs=200,
            raw_jobs=200,
            profile_jobs=150,
            paced_seconds=2,
            paced_min=50,
            profile_seconds=2,
        )
    },
    rss_target=1000,
    rss_checkpoints=[250, 500, 1000],
    rss_budget_s=4,
    rss_every=250,
    pool_jobs=150,
    pool_budget_s=2.5,
    pool_levels=(8, 16),
    service_webhooks=200,
    service_bulk_jobs=1000,
    broker_enqueue_jobs=500,
    broker_e2e_jobs=200,
    broker_env={
        "CONFREC_VISIBILITY_TIMEOUT": "11",
        "CONFREC_RETRY_DEADLINE": "3",
        "CONFREC_HTTP_TIMEOUT": "2",
    },
    cost=CostPlan(jobs=200, rounds=1, paced_seconds=2),
    burst=BurstPlan(jobs=300, capacity_jobs=400),
    ref_enqueue_jobs=1000,
    ref_e2e_jobs=150,
    ref_rounds=1,
    notes=["--quick: smoke sizes, no 100 ms run; the numbers mean nothing"],
)


def _meta(quick: bool, plan: Plan) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "cores": os.cpu_count(),
        "loadavg_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "machine": platform.platform(),
        "versions": {p: version(p) for p in ("celery", "kombu", "redis", "httpx", "pydantic")},
        "py_spy": pyspy_available(),
        "plan": asdict(plan),
    }


def _phases(
    rig: Rig, plan: Plan, workdir: Path, ref: str | None
) -> dict[str, Callable[[], dict[str, Any]]]:
    e2e = {
        f"e2e_{lat}": (lambda lat=lat, p=p: end_to_end(rig, lat, p, workdir))
        for lat, p in plan.e2e.items()
    }
    return {
        "enqueue": lambda: enqueue_phase(
            rig,
            plan.enqueue_sizes,
            plan.enqueue_rounds_small,
            plan.parallel_jobs,
            plan.profile_jobs,
            workdir,
        ),
        "cost": lambda: cost_phase(rig, plan.cost),
        "burst": lambda: burst_phase(rig, plan.burst),
        **e2e,
        "rss": lambda: rss_growth(
            rig, plan.rss_target, plan.rss_checkpoints, plan.rss_budget_s, plan.rss_every
        ),
        "pools": lambda: compare_pools(rig, plan.pool_jobs, plan.pool_levels, plan.pool_budget_s),
        "service": lambda: service_phase(rig, plan.service_webhooks, plan.service_bulk_jobs),
        "bodies": lambda: bodies_phase(rig),
        "brokers": lambda: broker_phase(
            rig, plan.broker_enqueue_jobs, plan.broker_e2e_jobs, plan.broker_env
        ),
        "batch": lambda: batch_phase(rig),
        "ref": lambda: compare_ref(
            rig, ref or "", plan.ref_enqueue_jobs, plan.ref_e2e_jobs, plan.ref_rounds
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke sizes, < 1 minute")
    parser.add_argument("--only", help=f"comma-separated subset of {PHASES} or ref")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--rss-budget",
        type=float,
        help="seconds for the RSS phase (full: 90; ~800 reaches 100,000 jobs here)",
    )
    parser.add_argument(
        "--compare-ref",
        metavar="GITREF",
        help="also run phase ref: that commit's producer and workers beside this tree's",
    )
    parser.add_argument(
        "--plots",
        type=Path,
        help="where the PNGs go (full run: docs/img; --quick: beside --out)",
    )
    parser.add_argument(
        "--baseline",
        metavar="GITREF",
        help=f"phase cost: the commit whose workers are 'before' (default {BASELINE}; none: skip)",
    )
    parser.add_argument(
        "--cost-simulator",
        action="store_true",
        help="phase cost: also run the rounds against the simulator (uvicorn)",
    )
    args = parser.parse_args(argv)
    wanted = [p.strip() for p in args.only.split(",") if p.strip()] if args.only else PHASES
    if args.compare_ref and not args.only:
        wanted = [*wanted, "ref"]
    unknown = set(wanted) - {*PHASES, "ref"}
    if unknown:
        parser.error(f"unknown phase(s): {sorted(unknown)}")
    if "ref" in wanted and not args.compare_ref:
        parser.error("phase ref needs --compare-ref GITREF")
    plan = QUICK if args.quick else FULL
    if args.rss_budget:
        plan = replace(plan, rss_budget_s=args.rss_budget)
    if args.cost_simulator:
        plan = replace(plan, cost=replace(plan.cost, with_simulator=True))
    if args.baseline:
        baseline = None if args.baseline == "none" else args.baseline
        plan = replace(plan, cost=replace(plan.cost, baseline=baseline))
    workdir = RESULTS / f"work-{args.out.stem}"  # logs stay here after the run
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    results: dict[str, Any] = {"meta": _meta(args.quick, plan)}
    failed = False
    started = time.monotonic()
    with Rig(workdir) as rig:
        for name, run in _phases(rig, plan, workdir, args.compare_ref).items():
            if name.split("_")[0] not in wanted:
                continue
            t0 = time.monotonic()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            try:
                results[name] = run()
            except Exception as exc:  # one phase failing must not lose the others
                failed = True
                traceback.print_exc()
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            results[name]["phase_seconds"] = round(time.monotonic() - t0, 1)
            print(f"[bench] {name} done in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    results["meta"]["total_seconds"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(build_rows(results)))
    plots = args.plots or (args.out.parent if args.quick else DOC_PLOTS)
    title = f"{results['meta']['date'][:10]}, {results['meta']['cores']} cores"
    for path in write_plots(results, plots, title):
        print(f"plot: {path}")
    meta = results["meta"]
    print(
        f"\n{meta['date']}  {meta['cores']} cores  load at start {meta['loadavg_at_start']}  "
        f"total {meta['total_seconds']} s  → {args.out}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
