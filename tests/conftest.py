"""Fixtures for the system tests: a private redis-server (and, for tests on both brokers,
a private RabbitMQ node), the simulator and real workers, all real processes on loopback,
each stopped by the fixture that started it."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery import Celery

from confrec.config import keys
from confrec.config.settings import Settings
from confrec.tasks.job import Outcome, RecordStartJob
from confrec.tasks.producer import Producer
from confrec.tasks.streams import ResultsStream
from confrec.worker.app import create_app
from confrec.worker.clients import redis_client
from confrec.worker.localrabbit import RabbitNode, rabbitmq_installed
from confrec.worker.localstack import (
    CONFREC,
    ManagedProcess,
    start_redis,
    start_simulator,
    start_worker,
)

API_KEY = "KEYtest-0123456789-not-real"

#: The brokers every guarantee test runs on (``isolated(broker=...)``).
BROKERS = ["redis", "rabbitmq"]

#: Worker settings that keep retry timing short enough for a test suite.
FAST_RETRIES = {
    "CONFREC_RETRY_BACKOFF_INITIAL": "0.05",
    "CONFREC_RETRY_BACKOFF_MAX": "0.5",
    "CONFREC_RETRY_DEADLINE": "8",
    "CONFREC_RETRY_MAX_ATTEMPTS": "4",
    "CONFREC_HTTP_TIMEOUT": "2",
    "CONFREC_VISIBILITY_TIMEOUT": "20",
}


def unique(prefix: str = "") -> str:
    return f"{prefix}conf-{uuid.uuid4().hex[:12]}"


@dataclass
class System:
    """Handles on the running parts, and bounded waits on what they do."""

    workdir: Path
    redis_url: str
    sim_root: str
    env: dict[str, str]
    workers: list[ManagedProcess] = field(default_factory=list)
    rabbit: RabbitNode | None = None
    """The broker when it is RabbitMQ (``redis_url`` then holds only the state)."""

    @property
    def broker_url(self) -> str:
        return self.env["CONFREC_BROKER_URL"]

    @property
    def client(self) -> redis.Redis:
        """The broker's Redis: queues, kombu's unacked hash, in-flight lists."""
        return redis_client(self.redis_url)

    @property
    def state(self) -> redis.Redis:
        """The Redis of outcomes and the ledger (the broker's unless CONFREC_REDIS_URL)."""
        return redis_client(self.env.get("CONFREC_REDIS_URL", self.redis_url))

    @property
    def settings(self) -> Settings:
        """What the workers' environment configures, as a producer in this process sees it
        (on RabbitMQ the queue's arguments must match the workers')."""
        ours = {k.removeprefix("CONFREC_").lower(): v for k, v in self.env.items()}
        return Settings.model_validate(
            {k: v for k, v in ours.items() if k in Settings.model_fields}
        )

    @property
    def app(self) -> Celery:
        return create_app(self.settings)

    def producer(self) -> Producer:
        return Producer(self.app, self.settings.queue)

    def stream(self) -> ResultsStream:
        return ResultsStream(self.state, self.settings.results_stream)

    def outcomes(self, job_ids: list[str], timeout: float = 30) -> dict[str, list[Outcome]]:
        """Every outcome published for these jobs, read until each has one AND no copy of
        any message of this queue is left anywhere a redelivery could come from (bounded)."""
        deadline = time.monotonic() + timeout
        wanted = set(job_ids)
        found: dict[str, list[Outcome]] = {}
        settled = False
        for entry in self.stream().follow("0-0", block_ms=100):
            if entry is not None and entry.outcome.job_id in wanted:
                found.setdefault(entry.outcome.job_id, []).append(entry.outcome)
            if entry is None:
                if settled:  # read to the end after nothing could be delivered any more
                    return found
                settled = len(found) == len(wanted) and self.settled()
            if time.monotonic() > deadline:
                break
        missing = sorted(wanted - set(found))
        state = self.deliveries()
        raise AssertionError(f"no outcome within {timeout}s for {missing} (deliveries: {state})")

    def deliveries(self) -> dict[str, int]:
        """Where this queue's messages are: queued, delivered and unacknowledged (kombu's
        hash, which a crashed worker's messages sit in until restored), or fetched by a
        consumer and not yet recorded (the reliable fetch's in-flight lists). On RabbitMQ:
        ready and unacknowledged, in the queue and in its dead-letter queue."""
        queue = self.settings.queue
        if self.rabbit is not None:
            counts = self.rabbit.queue_counts(queue, self.settings.dead_letter_queue).values()
            return {
                "queued": sum(c["ready"] for c in counts),
                "unacked": sum(c["unacked"] for c in counts),
                "inflight": 0,
            }
        client = self.client
        records = [json.loads(raw) for raw in client.hvals("unacked")]
        unacked = len([r for r in records if r[2] == queue])  # [message, exchange, key]
        consumers = [str(c) for c, q in client.hgetall(keys.CONSUMERS).items() if q == queue]
        inflight = sum([int(client.llen(keys.inflight(c))) for c in consumers])
        return {"queued": int(client.llen(queue)), "unacked": unacked, "inflight": inflight}

    def settled(self) -> bool:
        return not any(self.deliveries().values())

    def outcome(self, job_id: str, timeout: float = 30) -> Outcome:
        (only,) = self.outcomes([job_id], timeout)[job_id]
        return only

    def sim(self, path: str, **params: str) -> Any:
        return httpx.get(f"{self.sim_root}{path}", params=params, timeout=5).json()

    def sim_requests(self, conference_id: str) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = self.sim("/_sim/requests", conference_id=conference_id)
        return requests

    def cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CONFREC, *args],
            env={**os.environ, **self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start_worker(
        self,
        name: str,
        env: dict[str, str] | None = None,
        concurrency: int = 8,
        *,
        wait: bool = True,
        mingle: bool = False,
    ) -> ManagedProcess:
        argv = ["-c", str(concurrency)]
        worker_env = {**self.env, **(env or {})}
        proc = start_worker(self.workdir, name, worker_env, argv, wait=wait, mingle=mingle)
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for proc in self.workers:
            proc.stop()

    def enqueue(self, conference_ids: list[str], **fields: object) -> list[str]:
        jobs = [
            RecordStartJob.model_validate({"conference_id": c, "format": "wav", **fields})
            for c in conference_ids
        ]
        return [sent.job_id for sent in self.producer().enqueue_many(jobs)]

    def published(self) -> int:
        return int(self.state.xlen(self.settings.results_stream))


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("system")


@pytest.fixture(scope="session")
def redis_proc(workdir: Path) -> Iterator[ManagedProcess]:
    proc = start_redis(workdir / "redis")
    yield proc
    proc.stop()


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


@pytest.fixture(scope="module")
def system(
    redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path
) -> Iterator[System]:
    """The stack with one worker (8 threads) consuming the default queue."""
    env = {
        "CONFREC_BROKER_URL": redis_proc.extra["url"],
        "TELNYX_API_KEY": API_KEY,
        "TELNYX_BASE_URL": simulator.extra["base_url"],
        **FAST_RETRIES,
    }
    system = System(workdir / "workers", redis_proc.extra["url"], simulator.extra["root"], env)
    system.start_worker(f"w{uuid.uuid4().hex[:6]}")
    yield system
    system.stop_workers()


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
    for system in made:
        system.stop_workers()
