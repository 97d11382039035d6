"""The running system as the system tests see it: handles on real workers, a private
Redis, the simulator, and bounded waits on what they do; the settings tests share."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from celery import Celery

from confrec.config.settings import Settings
from confrec.tasks.job import Outcome, RecordStartJob
from confrec.tasks.publishing.producer import Producer
from confrec.tasks.store import keys
from confrec.tasks.store.streams import ResultsStream
from confrec.worker.app import create_app
from confrec.worker.broker.clients import redis_client
from confrec.worker.local.processes import (
    CONFREC,
    ManagedProcess,
    ready_or_stop,
    start_redis,
    start_simulator,
    start_worker,
    stop_all,
)
from confrec.worker.local.rabbitmq import RabbitNode
from confrec.worker.producing import create_ledger
from confrec.worker.supervisor import expected_processes

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
    """A fresh conference *name* (not a UUID: its recordings match once it is resolved)."""
    return f"{prefix}conf-{uuid.uuid4().hex[:12]}"


def unique_id() -> str:
    """A fresh conference id: a UUID, as Telnyx's ids are, so no name needs resolving."""
    return str(uuid.uuid4())


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

    def producer(self, recorded: bool = False) -> Producer:
        """``recorded``: each job is recorded in the ledger first (and counted in its
        batch), as the CLI's and serve's producers do."""
        ledger = create_ledger(self.settings, self.state) if recorded else None
        return Producer(self.app, self.settings.queue, ledger=ledger)

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
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``confrec ARGS``; past ``timeout`` it is interrupted (Ctrl-C: a command that
        started processes stops them), then killed, and the test fails saying so."""
        proc = subprocess.Popen(
            [*CONFREC, *args],
            env={**os.environ, **self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
            raise AssertionError(
                f"confrec {args[0]} did not end within {timeout:g}s; stderr: {err[-3000:]}"
            ) from None
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

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

    def start_workers(
        self, names: list[str], concurrency: int = 8, *, mingle: bool = False
    ) -> list[ManagedProcess]:
        """Several workers at once: all started, then each waited for (a start is mostly
        waiting — on imports, on mingle's second — so a fleet takes about one start)."""
        procs = [
            self.start_worker(name, concurrency=concurrency, wait=False, mingle=mingle)
            for name in names
        ]
        for proc in procs:
            worker_ready(proc, self.env, ["-c", str(concurrency)])
        return procs

    def stop_workers(self) -> None:
        stop_all(self.workers)

    def enqueue(
        self, conference_ids: list[str], batch: str | None = None, **fields: object
    ) -> list[str]:
        jobs = [
            RecordStartJob.model_validate({"conference_id": c, "format": "wav", **fields})
            for c in conference_ids
        ]
        producer = self.producer(recorded=batch is not None)
        return [sent.job_id for sent in producer.enqueue_many(jobs, batch=batch)]

    def published(self) -> int:
        return int(self.state.xlen(self.settings.results_stream))


def worker_ready(proc: ManagedProcess, env: dict[str, str], argv: list[str]) -> None:
    """Wait for a worker started without waiting (with ``env`` and ``argv``), as
    ``start_worker`` would have: for the "ready" line of each of its processes."""
    count = expected_processes({**os.environ, **env}, argv)
    ready = lambda: proc.log().count(" ready.") >= count  # noqa: E731
    ready_or_stop(proc, ready, 30, f"worker {proc.name}")


#: Short enough for a test, and still valid: visibility > deadline + timeout + 5 s.
QUICK_REDELIVERY = {
    "CONFREC_RETRY_DEADLINE": "3",
    "CONFREC_HTTP_TIMEOUT": "2",
    "CONFREC_VISIBILITY_TIMEOUT": "11",
}


@contextlib.contextmanager
def own_fleet(workdir: Path, **env: str) -> Iterator[System]:
    """A System on a Redis and a simulator of its own (``env`` added to the workers'):
    the reconcile schedule and bucket are fleet-wide keys, so no other module's workers
    may take its work. No worker yet; every process stopped after."""
    redis_proc = start_redis(workdir / "redis")
    sim = start_simulator(workdir / "sim", api_key=API_KEY, latency_ms=5)
    fleet_env = {
        "CONFREC_BROKER_URL": redis_proc.extra["url"],
        "TELNYX_API_KEY": API_KEY,
        "TELNYX_BASE_URL": sim.extra["base_url"],
        **FAST_RETRIES,
        **env,
    }
    system = System(workdir / "workers", redis_proc.extra["url"], sim.extra["root"], fleet_env)
    try:
        yield system
    finally:
        system.stop_workers()
        sim.stop()
        redis_proc.stop()
