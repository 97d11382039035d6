"""docker-compose.yml runs what it says, checked without Docker.

Each service's command is run here as a local process with only its addresses translated
(service hosts → the test's processes, ports → free ports, 0.0.0.0 → 127.0.0.1); it must
come up and is stopped again. The file's ${VAR} defaults are resolved as compose does.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
import yaml
from nacl.signing import SigningKey

from confrec.worker.local.processes import ManagedProcess, free_port, spawn, wait_until
from tests.support.system import API_KEY

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
#: Services of the `monitoring` profile: third-party images, not run natively here.
MONITORING = {"prometheus", "grafana"}
FLOWER_AUTH = ("ops", "compose-test-pw")
#: What an operator exports before `docker compose --profile dev up`.
SERVE_TOKEN = "compose-test-token"
HOST_ENV = {
    "TELNYX_API_KEY": API_KEY,
    "TELNYX_BASE_URL": "http://simulator:8099/v2",
    "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH),
    "CONFREC_API_TOKENS": SERVE_TOKEN,
    "TELNYX_PUBLIC_KEY": base64.b64encode(bytes(SigningKey.generate().verify_key)).decode(),
}
_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return loaded


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """${VAR}, ${VAR:-default} and ${VAR:?message}, as docker-compose resolves them."""

    def resolve(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        current = env.get(name)
        missing = current is None or (op is not None and op.startswith(":") and not current)
        if missing and op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        if missing and op and op.endswith("-"):
            return arg
        return current or ""

    return _VAR.sub(resolve, value)


def environment(service: dict[str, Any], addresses: Mapping[str, str]) -> dict[str, str]:
    """The service's environment as the container gets it, with service addresses moved."""
    raw = service.get("environment", {})
    pairs = raw.items() if isinstance(raw, dict) else (e.split("=", 1) for e in raw)
    env = {}
    for key, value in pairs:
        resolved = interpolate(str(value), HOST_ENV)
        for compose_address, local in addresses.items():
            resolved = resolved.replace(compose_address, local)
        env[key] = resolved
    return env


def native_argv(service: dict[str, Any], port: int) -> list[str]:
    """The service's command for this machine: its executable, a free port, loopback."""
    command = service["command"]
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    executable = {"confrec": str(Path(sys.executable).with_name("confrec"))}
    local = [executable.get(argv[0]) or shutil.which(argv[0]) or argv[0]]
    args = iter(argv[1:])
    for arg in args:
        if arg == "--port":
            next(args)
            local += [arg, str(port)]
        elif arg in ("--host", "--address"):
            value = next(args)
            local += [arg, "127.0.0.1" if value == "0.0.0.0" else value]
        else:
            local.append(arg)
    return local


def _answers(url: str, auth: tuple[str, str] | None = None, timeout: float = 0.5) -> int | None:
    """The status code, or None without an answer in ``timeout`` (short for readiness
    polls; a one-off check gives a busy server longer)."""
    try:
        return httpx.get(url, auth=auth, timeout=timeout).status_code
    except httpx.HTTPError:
        return None


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def check_redis(service: dict[str, Any], port: int, workdir: Path) -> None:
    proc = spawn(
        "redis",
        [
            *native_argv(service, port),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
        ],
        workdir,
    )
    url = f"redis://127.0.0.1:{port}/0"
    with stopping(proc):
        wait_until(lambda: _pings(url) or not proc.alive(), 10, f"redis (log {proc.log_path})")
        client = redis.Redis.from_url(url, decode_responses=True)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        healthcheck = service["healthcheck"]["test"]
        assert healthcheck[0] == "CMD"
        argv = [healthcheck[1], "-p", str(port), *healthcheck[2:]]  # redis-cli -p PORT ping
        probe = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        assert (probe.returncode, probe.stdout.strip()) == (0, "PONG")


def check_worker(proc: ManagedProcess, port: int) -> None:
    wait_until(lambda: "ready." in proc.log() or not proc.alive(), 30, f"worker ({proc.log_path})")
    assert proc.alive(), proc.log()[-2000:]
    assert "concurrency: 16" in proc.log()
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)  # CONFREC_METRICS_PORT
    assert "confrec_queue_depth" in metrics.text


def check_flower(proc: ManagedProcess, port: int) -> None:
    root = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(f"{root}/healthcheck") == 200 or not proc.alive(), 20, "flower")
    assert proc.alive(), proc.log()[-2000:]
    assert _answers(f"{root}/api/workers", timeout=10) == 401
    assert _answers(f"{root}/api/workers", FLOWER_AUTH, timeout=10) == 200  # asks the workers
    send = httpx.post(
        f"{root}/api/task/send-task/confrec.record_start", auth=FLOWER_AUTH, json={}, timeout=10
    )
    assert send.status_code == 403  # read-only unless FLOWER_READ_ONLY=false: nothing enqueued


def check_serve(proc: ManagedProcess, port: int) -> None:
    root = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(f"{root}/healthz") == 200 or not proc.alive(), 20, "serve")
    assert proc.alive(), proc.log()[-2000:]
    # The compose healthcheck itself, run here against the local port.
    test = services()["serve"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    argv = [sys.executable, *(arg.replace(":8080/", f":{port}/") for arg in test[2:])]
    assert subprocess.run(argv, capture_output=True, timeout=10).returncode == 0
    assert httpx.post(f"{root}/v1/jobs", json={}, timeout=5).status_code == 401  # auth from env
    bearer = {"Authorization": f"Bearer {SERVE_TOKEN}"}
    assert httpx.get(f"{root}/v1/jobs/none", headers=bearer, timeout=5).status_code == 404
    assert httpx.post(f"{root}/webhooks/telnyx", json={}, timeout=5).status_code == 401  # key set


def check_simulator(proc: ManagedProcess, port: int) -> None:
    url = f"http://127.0.0.1:{port}/_sim/health"
    wait_until(lambda: _answers(url) == 200 or not proc.alive(), 15, "simulator")
    assert proc.alive(), proc.log()[-2000:]


CHECKS: dict[str, Callable[[ManagedProcess, int], None]] = {
    "worker": check_worker,
    "flower": check_flower,
    "serve": check_serve,
    "simulator": check_simulator,
}


@contextmanager
def stopping(proc: ManagedProcess) -> Iterator[ManagedProcess]:
    """Stop the process on leaving the block, and check that it did stop."""
    try:
        yield proc
    finally:
        proc.stop()
    assert not proc.alive()


@pytest.mark.parametrize("name", sorted(set(services()) - MONITORING))
def test_service_command_runs_natively(
    name: str, redis_proc: ManagedProcess, simulator: ManagedProcess, tmp_path: Path
) -> None:
    service, port = services()[name], free_port()
    if name == "redis":
        check_redis(service, port, tmp_path)
        return
    assert name in CHECKS, f"no native check for compose service {name!r}"
    addresses = {
        "redis:6379": urlsplit(redis_proc.extra["url"]).netloc,
        "simulator:8099": urlsplit(simulator.extra["root"]).netloc,
    }
    env = environment(service, addresses)
    if "CONFREC_METRICS_PORT" in env:  # the worker's own port, moved like the others
        env["CONFREC_METRICS_PORT"] = str(port)
    assert "api.telnyx.com" not in env.get("TELNYX_BASE_URL", "")  # never the real API here
    with stopping(spawn(name, native_argv(service, port), tmp_path, env)) as proc:
        CHECKS[name](proc, port)
    assert API_KEY not in proc.log()
    assert SERVE_TOKEN not in proc.log()


def test_compose_file_shape() -> None:
    found = services()
    assert set(found) == {"redis", "worker", "serve", "flower", "simulator"} | MONITORING
    worker, flower = found["worker"], found["flower"]
    assert not {"container_name", "ports"} & set(worker), "worker must scale (--scale worker=N)"
    assert found["simulator"]["profiles"] == ["dev"]
    assert all(found[s]["profiles"] == ["monitoring"] for s in MONITORING)
    assert all("profiles" not in found[s] for s in ("redis", "worker", "serve", "flower"))
    assert "TELNYX_API_KEY" not in found["serve"]["environment"]  # serve never needs it
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    default_url = interpolate(worker["environment"]["TELNYX_BASE_URL"], {})
    assert default_url == "https://api.telnyx.com/v2"
    with pytest.raises(KeyError, match="FLOWER_BASIC_AUTH"):
        interpolate(flower["environment"]["FLOWER_BASIC_AUTH"], {})
    assert API_KEY not in COMPOSE.read_text()


DOCKER_COMPOSE = shutil.which("docker-compose")


@pytest.mark.skipif(DOCKER_COMPOSE is None, reason="docker-compose is not installed")
def test_docker_compose_accepts_the_file_and_requires_the_secrets(tmp_path: Path) -> None:
    empty_env_file = tmp_path / "empty.env"  # a developer's .env must not change the result
    empty_env_file.write_text("")
    base = [str(DOCKER_COMPOSE), "-f", str(COMPOSE), "--env-file", str(empty_env_file)]
    clean = {k: v for k, v in os.environ.items() if k not in HOST_ENV}

    def compose(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], env=dict(env), capture_output=True, text=True, timeout=60
        )

    ok = compose("config", "--quiet", env={**clean, **HOST_ENV})
    assert ok.returncode == 0, ok.stderr
    listed = compose("--profile", "monitoring", "config", "--services", env={**clean, **HOST_ENV})
    assert set(listed.stdout.split()) >= {"redis", "worker", "prometheus", "grafana"}
    for required, message in [
        ("FLOWER_BASIC_AUTH", "set FLOWER_BASIC_AUTH=user:password"),
        ("CONFREC_API_TOKENS", "set CONFREC_API_TOKENS=token"),
    ]:
        without = {k: v for k, v in HOST_ENV.items() if k != required}
        refused = compose("config", "--quiet", env={**clean, **without})
        assert refused.returncode != 0
        assert message in refused.stderr


def test_the_monitoring_profile_scrapes_the_workers_and_serves_metrics_ports() -> None:
    """Prometheus scrapes every worker replica on the port the worker is told to serve,
    and every serve replica on the port serve listens on; Grafana gets the files its
    mounts name. (tests/system/test_prometheus.py runs this config's jobs for real.)"""
    found = services()
    for service in MONITORING:
        for volume in found[service]["volumes"]:
            source = volume.split(":")[0]
            assert not source.startswith("./") or (ROOT / source).exists(), volume
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    serve_argv = shlex.split(found["serve"]["command"])
    ports = {
        "worker": int(found["worker"]["environment"]["CONFREC_METRICS_PORT"]),
        "serve": int(serve_argv[serve_argv.index("--port") + 1]),
    }
    assert set(jobs) == {f"confrec-{service}" for service in ports}
    for service, port in ports.items():
        (discovery,) = jobs[f"confrec-{service}"]["dns_sd_configs"]
        assert discovery["names"] == [service] and discovery["type"] == "A"
        assert discovery["port"] == port
