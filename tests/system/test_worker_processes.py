"""``confrec worker`` runs one Celery worker process per CPU by default (issue 23): each a
node of its own that takes jobs, all stopped by one SIGTERM, all killed with the
supervisor. Real processes on a real Redis and the simulator."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confrec.worker.local.processes import ManagedProcess, start_worker, wait_until, worker_pids
from confrec.worker.supervisor import SETTLED_S
from tests.support.system import System

CPUS = len(os.sched_getaffinity(0))


def _state(pid: int) -> str:
    """The process's state letter (Z: dead, not yet reaped), or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return ""


def _nodes(system: System, name: str, want: int) -> dict[str, Any]:
    """Each node of the worker ``name`` and its stats, once ``want`` of them answer."""
    replies: dict[str, Any] = {}

    def answered() -> bool:
        stats = system.app.control.inspect(timeout=1.0).stats() or {}
        replies.clear()
        replies.update({node: s for node, s in stats.items() if node.startswith(f"{name}-")})
        return len(replies) >= want

    wait_until(answered, 30, f"{want} nodes of {name}", 0.2)
    return replies


def test_one_process_per_cpu_each_a_node_that_takes_jobs(
    isolated: Callable[..., System], own_simulator: ManagedProcess
) -> None:
    system = isolated(own_simulator)
    worker = system.start_worker("per-cpu", concurrency=4)
    started = time.monotonic()
    nodes = _nodes(system, "per-cpu", CPUS)
    assert sorted(nodes) == sorted(f"per-cpu-{i}@{os.uname().nodename}" for i in range(1, CPUS + 1))
    pids = {int(str(stats["pid"])) for stats in nodes.values()}
    assert pids == worker_pids(worker)

    job_ids = system.enqueue([f"per-cpu-{i}" for i in range(200)])
    outcomes = system.outcomes(job_ids, timeout=60)
    assert {len(o) for o in outcomes.values()} == {1}
    if CPUS > 1:  # every process took a share
        totals = _nodes(system, "per-cpu", CPUS)
        assert all(stats["total"] for stats in totals.values()), totals

    # A process that dies once settled (an OOM kill, say) is started again, under its
    # name, and does not decide the worker's exit code.
    victim = min(pids)
    settled = SETTLED_S + 1
    wait_until(lambda: time.monotonic() - started > settled, settled + 5, "settled processes")
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        now = worker_pids(worker)
        return len(now) == CPUS and victim not in now

    wait_until(replaced, 30, "a new process in place of the killed one")
    assert sorted(_nodes(system, "per-cpu", CPUS)) == sorted(nodes)

    worker.signal(signal.SIGTERM)
    assert worker.popen.wait(30) == 0


def test_processes_that_cannot_start_stop_the_worker_with_their_exit_code(
    isolated: Callable[..., System], own_simulator: ManagedProcess
) -> None:
    """Not a restart loop: a process that exits at once stops the others, and the worker
    exits with that process's code (here Celery's usage error, 2)."""
    system = isolated(own_simulator, CONFREC_WORKER_PROCESSES="2")
    worker = start_worker(system.workdir, "broken", system.env, ["--no-such-option"], wait=False)
    try:
        code = worker.popen.wait(30)
    finally:
        worker.stop()
    log = worker.log()
    assert code == 2, log
    assert "error: confrec worker: No such option '--no-such-option'" in log
    assert "Traceback" not in log  # a user's mistake: one line, not a traceback
    assert "exited at once" in log


def test_the_processes_die_with_a_killed_supervisor(
    isolated: Callable[..., System], own_simulator: ManagedProcess
) -> None:
    system = isolated(own_simulator, CONFREC_WORKER_PROCESSES="2")
    worker = system.start_worker("doomed", concurrency=2)
    pids = [int(str(s["pid"])) for s in _nodes(system, "doomed", 2).values()]
    worker.popen.kill()  # only the supervisor: its children must follow
    worker.popen.wait(10)

    def gone() -> bool:
        return all(_state(pid) in ("", "Z") for pid in pids)

    wait_until(gone, 10, "the children of a killed supervisor to die")
