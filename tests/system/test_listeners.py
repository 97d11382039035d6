"""Quiet by default: Flower and the worker's metrics listen on loopback unless told
otherwise; no secret on any command line — ``confrec flower`` refuses one, takes basic
auth from a file, and the demo's processes carry none in ``/proc/PID/cmdline`` (the demo
run that also shows it exits 0)."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
from nacl.signing import SigningKey

from confrec.worker.exitcodes import ExitCode
from confrec.worker.local.demo import DEMO_API_KEY, DEMO_TOKEN
from confrec.worker.local.processes import (
    CONFREC,
    ManagedProcess,
    free_port,
    spawn,
    start_redis,
    start_simulator,
    wait_until,
)
from tests.support.system import API_KEY, System


def listening(port: int) -> set[str]:
    """The IPv4 addresses a socket of this machine listens on ``port`` (/proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found


def wait_listening(proc: ManagedProcess, port: int) -> set[str]:
    wait_until(
        lambda: bool(listening(port)) or not proc.alive(), 30, f"port {port} ({proc.log_path})"
    )
    assert proc.alive(), proc.log()
    return listening(port)


def test_the_worker_metrics_listen_on_loopback_by_default(system: System) -> None:
    port = free_port()
    env = {**system.env, "CONFREC_METRICS_PORT": str(port), "CONFREC_QUEUE": "listeners-idle"}
    proc = spawn(f"worker-metrics-{port}", [*CONFREC, "worker", "-c", "1"], system.workdir, env)
    try:
        assert wait_listening(proc, port) == {"127.0.0.1"}
    finally:
        proc.stop()


def test_flower_listens_on_loopback_and_reads_basic_auth_from_a_file(
    system: System, tmp_path: Path
) -> None:
    secret = tmp_path / "flower-auth"
    secret.write_text("ops:from-a-file\n")
    port = free_port()
    env = {"CONFREC_BROKER_URL": system.redis_url, "FLOWER_BASIC_AUTH_FILE": str(secret)}
    proc = spawn(f"flower-{port}", [*CONFREC, "flower", "--port", str(port)], tmp_path, env)
    try:
        assert wait_listening(proc, port) == {"127.0.0.1"}
        root = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{root}/healthcheck").status_code == 200, 20, "flower")
        assert httpx.get(f"{root}/workers", auth=("ops", "wrong")).status_code == 401
        assert httpx.get(f"{root}/workers", auth=("ops", "from-a-file")).status_code == 200
    finally:
        proc.stop()
    assert "from-a-file" not in proc.log()


def test_flower_refuses_a_secret_on_its_command_line(system: System) -> None:
    for args, env_name in [
        (["--basic-auth=ops:on-argv"], "FLOWER_BASIC_AUTH"),
        (["--basic_auth", "ops:on-argv"], "FLOWER_BASIC_AUTH"),
        (["--oauth2_secret=on-argv"], "FLOWER_OAUTH2_SECRET"),
    ]:
        result = system.cli("flower", *args, env={"FLOWER_BASIC_AUTH": "ops:pw"})
        assert result.returncode == ExitCode.INVALID, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: --") and f"set {env_name} instead" in line
        assert "on-argv" not in line


def test_the_simulator_takes_its_signing_key_from_the_environment(tmp_path: Path) -> None:
    key = SigningKey.generate()
    seed = base64.b64encode(bytes(key)).decode()
    sim = start_simulator(tmp_path, api_key=API_KEY, env={"CONFREC_SIM_SIGNING_KEY": seed})
    try:
        public = httpx.get(f"{sim.extra['root']}/_sim/public-key").text
        assert base64.b64encode(bytes(key.verify_key)).decode() in public
        assert seed not in Path(f"/proc/{sim.popen.pid}/cmdline").read_text()
    finally:
        sim.stop()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit():
            children.setdefault(int(stat.rpartition(")")[2].split()[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def test_the_demo_exits_0_and_none_of_its_processes_has_a_secret_on_its_command_line(
    isolated: Callable[..., System], tmp_path: Path
) -> None:
    """One run of the demo for both checks (it takes seconds): it exits 0 with the failed
    jobs it made on purpose, and no process it started carries a secret in its argv."""
    redis_proc = start_redis(tmp_path / "redis")  # the demo's fleet alone on it, as a user's is
    system = isolated(redis_url=redis_proc.extra["url"])
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        demo = subprocess.Popen(
            [*CONFREC, "demo", "--jobs", "40", "--workers", "1"],
            env={**os.environ, **system.env},
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    seen: dict[int, str] = {}

    def all_started() -> bool:
        for pid in descendants(demo.pid):
            try:
                seen[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
        lines = seen.values()
        return all(
            any(part in line for line in lines) for part in (" simulate", " serve", " worker")
        )

    try:
        wait_until(all_started, 90, "the demo's simulator, serve and worker")
        assert demo.wait(240) == 0, err.read_text()[-3000:]  # it ends by itself, stopping all
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
            demo.wait(60)
        for pid, line in seen.items():  # whatever a failed demo left behind (not a reused pid)
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() == line:
                    os.kill(pid, signal.SIGKILL)
        redis_proc.stop()
    for line in seen.values():
        for secret in ("--signing-key", DEMO_API_KEY, DEMO_TOKEN, "basic-auth"):
            assert secret not in line, line
    assert "rejected" in out.read_text()  # the missing- conference
    assert "found by reconciliation: job" in out.read_text()  # a nosavedhook- conference
    assert "waiting up to" in err.read_text()
