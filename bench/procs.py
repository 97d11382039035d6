"""The processes a benchmark runs on.

``Rig`` owns a private redis-server and whatever simulators and workers a phase starts;
everything it starts is stopped by an ExitStack, every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import httpx
import redis

from bench.proc_stats import alive, descendants
from confrec.config.settings import Settings
from confrec.worker.local.processes import (
    CONFREC,
    ManagedProcess,
    StartError,
    free_port,
    ready_or_stop,
    spawn,
    start_redis,
    start_simulator,
    wait_until,
)

API_KEY = "KEYbench-simulator-only"
#: The floor's queue (bench/bare.py), apart from confrec's.
BARE_QUEUE = "bare"
REPO = Path(__file__).resolve().parent.parent
_TICK = os.sysconf("SC_CLK_TCK")
#: A warm shutdown takes ~1.5 s here; a worker still up after this is killed.
STOP_TIMEOUT_S = 8.0


class Rig:
    """A private redis-server plus simulators/workers started on demand, all stopped on exit."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._stack = ExitStack()
        self.redis_proc: ManagedProcess | None = None

    def __enter__(self) -> Rig:
        self.redis_proc = start_redis(self.workdir)
        self._stack.callback(self.redis_proc.stop)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    @property
    def url(self) -> str:
        assert self.redis_proc is not None
        return self.redis_proc.extra["url"]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=30)

    def flush(self) -> None:
        """Forget every queue, outcome and key (only between phases, no worker running)."""
        self.client().flushall()

    def simulator(self, stack: ExitStack, latency_ms: float) -> ManagedProcess:
        sim = start_simulator(self.workdir, api_key=API_KEY, latency_ms=latency_ms)
        stack.callback(sim.stop)
        return sim

    def fake(self, stack: ExitStack, latency_ms: float) -> ManagedProcess:
        """The light fake Telnyx (bench/fake.py), its own process: its CPU measured apart.
        ``extra`` as the simulator's (``base_url``, ``root``), so either serves a phase."""
        port = free_port()
        argv = [sys.executable, "-m", "bench.fake", "--port", str(port)]
        argv += ["--latency-ms", str(latency_ms)]
        proc = spawn(f"fake-{port}", argv, self.workdir, {"PYTHONPATH": str(REPO)})
        stack.callback(proc.stop)
        root = f"http://127.0.0.1:{port}"
        proc.extra |= {"base_url": f"{root}/v2", "root": root}
        ready_or_stop(proc, lambda: _answers(f"{root}/_sim/health"), 15, "fake Telnyx")
        return proc

    def worker_env(self, sim: ManagedProcess, source: Path | None = None) -> dict[str, str]:
        """A worker's environment; ``source``: a tree of confrec to run instead of this
        one (an older commit, bench/ref.py), found first on PYTHONPATH."""
        paths = [str(source)] if source else []
        return {
            "CONFREC_BROKER_URL": self.url,
            "TELNYX_API_KEY": API_KEY,
            "TELNYX_BASE_URL": sim.extra["base_url"],
            # workers run from the workdir: confrec (this tree's) must stay importable
            "PYTHONPATH": os.pathsep.join([*paths, str(REPO)]),
        }

    def workers(
        self,
        stack: ExitStack,
        sim: ManagedProcess,
        names: Iterable[str],
        extra_args: list[str] | None = None,
        source: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> list[ManagedProcess]:
        """Start workers in parallel and wait (bounded) for each one's "ready." line.

        Each is ``confrec worker`` as worker/local/processes.py starts it (``CONFREC``); ``env``
        adds to or overrides the rig's worker environment (another broker, say)."""
        worker_env = {**self.worker_env(sim, source), **(env or {})}
        extra = extra_args or []
        argvs = {
            name: [*CONFREC, "worker", "--hostname", f"{name}@%h", *_QUIET, *extra]
            for name in names
        }
        each = 1 if source else worker_processes(worker_env, extra)
        return self._start(stack, argvs, worker_env, each)

    def bare_worker(
        self, stack: ExitStack, sim: ManagedProcess, concurrency: int
    ) -> ManagedProcess:
        """One ``celery -A bench.bare worker`` (the floor), threads pool, on the rig's Redis."""
        name = f"bare-c{concurrency}"
        argv = [sys.executable, "-m", "celery", "-A", "bench.bare", "worker", "--pool", "threads"]
        argv += ["--concurrency", str(concurrency), "--queues", BARE_QUEUE, *_QUIET]
        argv += ["--hostname", f"{name}@%h", "--loglevel", "INFO"]
        env = self.worker_env(sim) | {
            "BARE_BROKER_URL": self.url,
            "BARE_CONCURRENCY": str(concurrency),
        }
        return self._start(stack, {name: argv}, env)[0]

    def _start(
        self, stack: ExitStack, argvs: dict[str, list[str]], env: dict[str, str], each: int = 1
    ) -> list[ManagedProcess]:
        """Spawn, then wait for ``each`` "ready." lines per worker (one per Celery process:
        the children of ``confrec worker``'s supervisor write to its log)."""
        procs: list[ManagedProcess] = []
        stack.callback(_stop_all, procs, STOP_TIMEOUT_S)
        for name, argv in argvs.items():
            procs.append(spawn(name, argv, self.workdir, env))
        for proc in procs:
            wait_until(_ready(proc, each), 60, f"worker {proc.name} (log {proc.log_path})")
            if not proc.alive():
                raise StartError(f"worker {proc.name} exited: {proc.log()[-2000:]}")
        return procs


def worker_processes(env: dict[str, str], args: list[str] | None = None) -> int:
    """How many Celery processes one ``confrec worker`` of this tree runs with ``env`` and
    ``args``: as ``CONFREC_WORKER_PROCESSES`` says, else one per usable CPU with the
    threads pool, 1 with another; 1 for a tree without that setting (before issue 23)."""
    if "worker_processes" not in Settings.model_fields:
        return 1
    env = {**os.environ, **env}  # as spawn gives it to the worker
    configured = int(env.get("CONFREC_WORKER_PROCESSES") or 0)
    threads = "prefork" not in (args or []) and env.get("CONFREC_POOL", "threads") == "threads"
    return configured or (len(os.sched_getaffinity(0)) if threads else 1)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


#: Every bench worker, confrec's and the floor's: no start-up sync, no gossip traffic.
_QUIET = ["--without-mingle", "--without-gossip"]


def _ready(proc: ManagedProcess, each: int = 1) -> Callable[[], bool]:
    return lambda: proc.log().count("ready.") >= each or not proc.alive()


def _stop_all(procs: list[ManagedProcess], timeout: float) -> None:
    """Stop workers together (TERM all, wait, KILL what is left) and any pool child they
    left behind, each by its pid."""
    children = [pid for proc in procs if proc.alive() for pid in descendants(proc.pid)]
    for proc in procs:
        proc.signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait(5)
    deadline = time.monotonic() + 5
    for pid in children:
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.05)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
