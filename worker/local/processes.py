"""Start and stop the local parts — redis-server, the simulator, workers, the HTTP service —
as real processes.

Used by the demo and by the system tests, so both run exactly what a user would run.
Every start waits for readiness with a deadline; every process is stopped by its owner.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from confrec.worker.supervisor import expected_processes

CONFREC = [sys.executable, "-m", "confrec.worker.cli"]


class StartError(RuntimeError):
    """A part did not come up in time; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``check`` until it is true; raise StartError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise StartError(f"{what} not ready after {round(timeout, 1):g}s")


@dataclass
class ManagedProcess:
    """A child process with its log file; ``stop`` ends it (TERM, then KILL)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def kill_group(self) -> None:
        """SIGKILL the process and every child it started (a crash of the whole host)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


def stop_all(procs: Iterable[ManagedProcess], timeout: float = 15.0) -> None:
    """Stop several at once: each is asked (TERM) before any is waited for, so a fleet
    of workers takes as long as its slowest one, not the sum."""
    alive = [proc for proc in procs if proc.alive()]
    for proc in alive:
        proc.popen.terminate()
    deadline = time.monotonic() + timeout
    for proc in alive:
        try:
            proc.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait(5)


def spawn(
    name: str, argv: list[str], workdir: Path, env: Mapping[str, str] | None = None
) -> ManagedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=workdir,
            start_new_session=True,  # its own process group: killed whole, never by ^C alone
        )
    return ManagedProcess(name, popen, log_path)


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise StartError(
            "redis-server is not installed: install Debian's package (apt-get install "
            "redis-server) or set CONFREC_BROKER_URL to a Redis you run"
        )
    return found


def start_redis(
    workdir: Path,
    port: int | None = None,
    *,
    appendonly: bool = False,
    password: str = "",
    host: str = "127.0.0.1",
    command: Sequence[str] = (),
    wait: bool = True,
) -> ManagedProcess:
    """A private redis-server on ``host`` (loopback by default); ``extra['url']`` is its URL.

    With ``appendonly`` it keeps its data in ``workdir`` across a restart on the same port.
    ``command`` prefixes the server's argv (``ip netns exec NS``); without ``wait`` the
    caller checks readiness from where ``host`` is reachable. Another ``host`` than
    loopback needs a ``password``: Redis's protected mode refuses other clients without.
    """
    port = port or free_port()
    argv = [
        *command,
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        host,
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--dir",
        str(workdir),
        *(["--requirepass", password] if password else []),
    ]
    proc = spawn(f"redis-{port}", argv, workdir)
    url = f"redis://{f':{password}@' if password else ''}{host}:{port}/0"
    proc.extra["url"] = url
    if wait:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        wait_until(lambda: _pings(client), 10, f"redis-server on port {port} (log {proc.log_path})")
    return proc


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def start_simulator(
    workdir: Path,
    *,
    api_key: str,
    latency_ms: float = 0,
    extra_args: list[str] | None = None,
    host: str = "127.0.0.1",
    command: Sequence[str] = CONFREC,
    wait: bool = True,
    env: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """``confrec simulate`` on a free port of ``host``; ``extra['base_url']`` is its Telnyx
    base URL. ``command`` and ``wait`` as for ``start_redis``; secrets (the API key, a
    signing key: ``CONFREC_SIM_SIGNING_KEY``) go in ``env``, never on its command line."""
    port = free_port()
    argv = [*command, "simulate", "--host", host, "--port", str(port)]
    argv += ["--latency-ms", str(latency_ms)]
    secrets = {"TELNYX_API_KEY": api_key, **(env or {})}
    proc = spawn(f"simulator-{port}", argv + (extra_args or []), workdir, secrets)
    root = f"http://{host}:{port}"
    proc.extra["base_url"] = f"{root}/v2"
    proc.extra["root"] = root
    if wait:
        ready_or_stop(proc, lambda: _healthy(f"{root}/_sim/health"), 15, "simulator")
    return proc


def start_serve(
    workdir: Path, env: Mapping[str, str], *, port: int | None = None
) -> ManagedProcess:
    """``confrec serve`` on a free port, once ``/healthz`` answers 200; ``extra['root']``
    is its URL. ``env`` holds its settings (CONFREC_API_TOKENS, the broker, …)."""
    port = port or free_port()
    argv = [*CONFREC, "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = spawn(f"serve-{port}", argv, workdir, env)
    root = f"http://127.0.0.1:{port}"
    proc.extra["root"] = root
    ready_or_stop(proc, lambda: _healthy(f"{root}/healthz"), 20, "confrec serve")
    return proc


def ready_or_stop(
    proc: ManagedProcess, check: Callable[[], bool], timeout: float, what: str
) -> None:
    """Wait for ``check``; a part that exits or never becomes ready is stopped, not left."""
    try:
        wait_until(lambda: check() or not proc.alive(), timeout, f"{what} (log {proc.log_path})")
    except StartError:
        proc.stop()
        raise
    if not proc.alive():
        raise StartError(f"{what} exited: {proc.log()[-2000:]}")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def start_worker(
    workdir: Path,
    name: str,
    env: Mapping[str, str],
    extra_args: list[str] | None = None,
    *,
    wait: bool = True,
    mingle: bool = False,
    command: Sequence[str] = CONFREC,
) -> ManagedProcess:
    """``confrec worker`` as a process; waits for Celery's "ready" line of each of its
    worker processes (one per CPU by default) unless ``wait`` is False. Mingle and
    gossip are off unless asked for (faster start). ``command`` is how to run
    ``confrec`` (another install's console script, say)."""
    argv = [*command, "worker", "--hostname", f"{name}@%h"]
    argv += [] if mingle else ["--without-mingle", "--without-gossip"]
    proc = spawn(name, argv + (extra_args or []), workdir, env)
    if wait:
        # This tree's confrec: one per process; another command (celery, another
        # install's confrec) may run one process only: its first "ready." is enough.
        mine = list(command) == CONFREC
        count = expected_processes({**os.environ, **env}, extra_args or []) if mine else 1
        ready = lambda: proc.log().count(" ready.") >= count  # noqa: E731
        ready_or_stop(proc, ready, 30, f"worker {name}")
    return proc


def worker_pids(proc: ManagedProcess) -> set[int]:
    """The pids of a ``confrec worker``'s Celery worker processes: its children when it
    supervises several, else itself (read from /proc: Linux)."""
    children = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat.rpartition(")")[2].split()[1]) == proc.pid:
            children.add(int(entry.name))
    return children or {proc.pid}


def worker_nodes(proc: ManagedProcess) -> list[str]:
    """The Celery nodes (``name@host``, ``name-1@host``, …) of a ``confrec worker`` that
    have said they are ready, from its log."""
    return re.findall(r"(\S+@\S+) ready\.", proc.log())
