"""Before/after against an older commit: ``python -m bench --only ref --compare-ref REF``.

``git archive REF`` is unpacked into a temporary directory outside the repository
(nothing in the repository changes; linters never see the old tree) and
run side by side with the working tree, alternating, against the same redis-server and
simulator: the Producer and a bulk file (validated jobs → queue, in a subprocess per
tree) and the workers (a burst through 2 workers x 16 threads). Both trees must offer the same
``Producer(app, queue).enqueue_many`` and ``confrec worker``, under the ``confrec``
package (5679cce or later: an older tree is refused).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from contextlib import ExitStack
from io import BytesIO
from pathlib import Path
from typing import Any

from bench.e2e import burst, reset_simulator
from bench.procs import REPO, Rig


def unpack(ref: str, into: Path) -> Path:
    """The tree of ``ref`` as files under ``into`` (git archive: read-only on the repo)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    target = into / f"ref-{ref}"
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    if not (target / "confrec").is_dir():
        # Its workers (``-m confrec.worker.cli``) and producer (bench's ``confrec.`` imports)
        # would import this tree's confrec: this tree against itself, not against ``ref``.
        raise RuntimeError(f"{ref} predates the confrec package (5679cce); pick a later ref")
    return target


#: How each way of enqueueing is timed in the subprocess (bench.enqueue's functions).
ENQUEUE_CALLS = {
    "api": "api_rate(url, count, tag)",
    "bulk": "bulk_rate(url, count, pathlib.Path(tempfile.mkdtemp()), tag)",
}


def _enqueue_in(
    source: Path | None, url: str, count: int, tag: str, way: str = "api"
) -> dict[str, Any]:
    """bench.enqueue's ``way`` (the API, a bulk file) in a fresh interpreter that imports
    confrec from ``source``."""
    paths = [str(source)] if source else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, str(REPO)])}
    code = (
        "import json, pathlib, sys, tempfile; from bench.enqueue import api_rate, bulk_rate; "
        "url, count, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]; "
        f"print(json.dumps({ENQUEUE_CALLS[way]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url, str(count), tag],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(source or REPO),
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def compare_ref(
    rig: Rig, ref: str, enqueue_jobs: int, e2e_jobs: int, rounds: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="confrec-bench-ref-") as tmp:
        return _compare(rig, ref, unpack(ref, Path(tmp)), enqueue_jobs, e2e_jobs, rounds)


def _compare(
    rig: Rig, ref: str, source: Path, enqueue_jobs: int, e2e_jobs: int, rounds: int
) -> dict[str, Any]:
    trees: dict[str, Path | None] = {f"ref {ref}": source, "working tree": None}
    enq: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
    bulk: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
    e2e: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
    rig.flush()
    for _ in range(rounds):
        for label, tree in trees.items():
            enq[label].append(_enqueue_in(tree, rig.url, enqueue_jobs, "ref"))
            bulk[label].append(_enqueue_in(tree, rig.url, enqueue_jobs, "refb", "bulk"))
    with ExitStack() as outer:
        sim = rig.simulator(outer, 20)
        for r in range(rounds):
            for n, (label, tree) in enumerate(trees.items()):
                rig.flush()
                reset_simulator(sim)
                with ExitStack() as stack:
                    names = [f"ref{r}{n}a", f"ref{r}{n}b"]
                    workers = rig.workers(stack, sim, names, source=tree)
                    e2e[label].append(burst(rig, workers, sim, e2e_jobs, f"ref{r}{n}"))
    rig.flush()
    out: dict[str, Any] = {"ref": ref, "rounds": rounds, "runs": {}}
    for label in trees:
        rates = [r["rate"] for r in enq[label]]
        bulk_rates = [r["rate"] for r in bulk[label]]
        e2e_rates = [r.get("rate", 0.0) for r in e2e[label]]
        cpu = [r.get("worker_cpu_ms_per_job") or 0.0 for r in e2e[label]]
        out["runs"][label] = {
            "enqueue_rate": round(sum(rates) / len(rates)),
            "enqueue_rates": rates,
            "bulk_rate": round(sum(bulk_rates) / len(bulk_rates)),
            "bulk_rates": bulk_rates,
            "e2e_rate": round(sum(e2e_rates) / len(e2e_rates), 1),
            "e2e_rates": e2e_rates,
            "worker_cpu_ms_per_job": round(sum(cpu) / len(cpu), 2),
            "redis_commands_per_job": e2e[label][-1].get("redis_commands_per_job"),
            "e2e_rounds": e2e[label],
        }
    old, new = (out["runs"][label] for label in trees)
    out["enqueue_speedup"] = round(new["enqueue_rate"] / old["enqueue_rate"], 2)
    out["bulk_speedup"] = round(new["bulk_rate"] / old["bulk_rate"], 2)
    out["e2e_speedup"] = round(new["e2e_rate"] / old["e2e_rate"], 2)
    return out
