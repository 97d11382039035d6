"""Fixtures for the system tests: a private redis-server (and, for tests on both brokers,
a private RabbitMQ node), the simulator, real workers and Flower, all real processes on
loopback, each stopped by the fixture that started it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from confrec.tasks.store import keys
from confrec.worker.broker.clients import redis_client
from confrec.worker.local.processes import (
    CONFREC,
    ManagedProcess,
    free_port,
    spawn,
    start_redis,
    start_simulator,
    stop_all,
    wait_until,
)
from confrec.worker.local.rabbitmq import RabbitNode, rabbitmq_installed
from tests.support.flower import PASSWORD, USER, Flower, answers
from tests.support.system import API_KEY, FAST_RETRIES, System


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("system")


@pytest.fixture(scope="session")
def redis_proc(workdir: Path) -> Iterator[ManagedProcess]:
    proc = start_redis(workdir / "redis")
    yield proc
    proc.stop()


@pytest.fixture(scope="module", autouse=True)
def fresh_schedule(redis_proc: ManagedProcess) -> None:
    """Each module's fleets start with no reconciliation work on the shared redis: what an
    earlier module's jobs left names conferences of a simulator that is gone, and would
    cost the new fleet's reconciliation budget (a deployment has one Telnyx per Redis)."""
    redis_client(redis_proc.extra["url"]).delete(keys.RECONCILE_DUE)


@pytest.fixture(scope="module")
def own_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of the module's own: for tests that flush it, or whose fleet-wide keys (the
    reconcile schedule and bucket) no other module's workers may touch."""
    proc = start_redis(tmp_path_factory.mktemp("own-redis"))
    yield proc.extra["url"]
    proc.stop()


@pytest.fixture
def client(own_redis_url: str) -> redis.Redis:
    """A client of the module's own Redis, emptied for each test."""
    found = redis_client(own_redis_url)
    found.flushall()
    return found


@pytest.fixture(scope="session")
def rabbit_node(workdir: Path) -> Iterator[RabbitNode]:
    """A private RabbitMQ node, started the first time a test asks for one."""
    if not rabbitmq_installed():
        pytest.skip("rabbitmq-server is not installed (Debian: apt-get install rabbitmq-server)")
    node = RabbitNode(workdir / "rabbitmq").start()
    yield node
    node.stop(graceful=False)


@pytest.fixture(scope="session")
def simulator(workdir: Path) -> Iterator[ManagedProcess]:
    proc = start_simulator(workdir / "simulator", api_key=API_KEY, latency_ms=5)
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def system(simulator: ManagedProcess, workdir: Path) -> Iterator[System]:
    """The stack with one worker (8 threads) consuming the default queue, shared by every
    module (a worker's start and stop cost seconds): a test that starts another worker on
    it stops that one itself. On a Redis of its own: a worker reconciles what its Redis
    schedules, and every job on this one went to the session's simulator (one Telnyx per
    Redis, as in a deployment) — the other fleets' simulators come and go."""
    redis_proc = start_redis(workdir / "system-redis")
    env = {
        "CONFREC_BROKER_URL": redis_proc.extra["url"],
        "TELNYX_API_KEY": API_KEY,
        "TELNYX_BASE_URL": simulator.extra["base_url"],
        **FAST_RETRIES,
    }
    system = System(workdir / "workers", redis_proc.extra["url"], simulator.extra["root"], env)
    try:
        system.start_worker(f"w{uuid.uuid4().hex[:6]}")
        yield system
    finally:
        system.stop_workers()
        redis_proc.stop()


@pytest.fixture
def own_simulator(tmp_path: Path) -> Iterator[ManagedProcess]:
    """A simulator of this test's own, so its counters see only this test's requests."""
    proc = start_simulator(tmp_path, api_key=API_KEY, latency_ms=5)
    yield proc
    proc.stop()


@pytest.fixture
def isolated(
    redis_proc: ManagedProcess,
    simulator: ManagedProcess,
    workdir: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., System]]:
    """Makes Systems with their own queue and results stream and no worker yet, so a test
    can start, kill and count workers without other tests' jobs in the way. With
    ``broker="rabbitmq"`` the queue is on the private RabbitMQ node, state on Redis."""
    made: list[System] = []

    def make(
        sim: ManagedProcess | None = None,
        redis_url: str | None = None,
        broker: str = "redis",
        **env: str,
    ) -> System:
        tag = uuid.uuid4().hex[:8]
        sim = sim or simulator
        redis_url = redis_url or redis_proc.extra["url"]
        rabbit: RabbitNode | None = None
        if broker == "rabbitmq":
            rabbit = request.getfixturevalue("rabbit_node")
            env = {"CONFREC_BROKER_URL": rabbit.url, "CONFREC_REDIS_URL": redis_url, **env}
        system = System(
            workdir / f"isolated-{tag}",
            redis_url,
            sim.extra["root"],
            {
                "CONFREC_BROKER_URL": redis_url,
                "TELNYX_API_KEY": API_KEY,
                "TELNYX_BASE_URL": sim.extra["base_url"],
                "CONFREC_QUEUE": f"queue-{tag}",
                "CONFREC_RESULTS_STREAM": f"results-{tag}",
                **FAST_RETRIES,
                **env,
            },
            rabbit=rabbit,
        )
        made.append(system)
        return system

    yield make
    stop_all([worker for system in made for worker in system.workers])  # all told at once


@pytest.fixture(scope="module")
def flower(system: System) -> Iterator[Flower]:
    """``confrec flower --port P --address 127.0.0.1`` (options spelled as in compose)."""
    port = free_port()
    argv = [*CONFREC, "flower", "--port", str(port), "--address", "127.0.0.1"]
    env = {"CONFREC_BROKER_URL": system.redis_url, "FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}"}
    proc = spawn(f"flower-{port}", argv, system.workdir / "flower", env)
    try:
        root = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: answers(f"{root}/healthcheck") or not proc.alive(),
            20,
            f"flower (log {proc.log_path})",
        )
        assert proc.alive(), proc.log()
        yield Flower(root, proc)
    finally:
        proc.stop()
