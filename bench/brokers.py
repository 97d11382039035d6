"""Measurement 6: Redis against RabbitMQ as the broker, side by side in one run.

For each broker, with state on the rig's Redis in both cases: the enqueue rate of one
producer process (``Producer.enqueue_many``; RabbitMQ with publisher confirms), the
end-to-end rate of one default worker (threads, 16) against the simulator at 20 ms, and
how long a job whose worker was SIGKILLed mid-request waits before its next delivery
reaches the simulator (default settings: Redis redelivers after the visibility timeout,
RabbitMQ as soon as the connection drops). Every process is stopped; every wait bounded.
"""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from typing import Any

import httpx

from bench.procs import Rig
from confrec.config.settings import Settings
from confrec.tasks.job import RecordStartJob
from confrec.tasks.publishing.producer import Producer
from confrec.worker.app import create_app
from confrec.worker.local.processes import ManagedProcess, wait_until
from confrec.worker.local.rabbitmq import RabbitNode

#: A job of this conference takes 3 s at the simulator: long enough to kill mid-request.
SLOW_MS = 3000


def broker_phase(
    rig: Rig, enqueue_jobs: int, e2e_jobs: int, worker_env: dict[str, str]
) -> dict[str, Any]:
    """``worker_env``: settings for both brokers' workers (shorter timeouts for --quick)."""
    results: dict[str, Any] = {"enqueue_jobs": enqueue_jobs, "e2e_jobs": e2e_jobs}
    with ExitStack() as stack:
        node = RabbitNode(rig.workdir / "rabbitmq").start()
        stack.callback(node.stop, graceful=False)
        sim = rig.simulator(stack, 20)
        for name, url in (("redis", rig.url), ("rabbitmq", node.url)):
            rig.flush()
            env = {
                "CONFREC_BROKER_URL": url,
                "CONFREC_REDIS_URL": rig.url,
                "CONFREC_QUEUE": f"brokers-{name}",
                **worker_env,
            }
            settings = _settings(env)
            results[name] = {
                "enqueue": _enqueue_rate(settings, enqueue_jobs),
                "e2e": _e2e_rate(rig, sim, env, settings, e2e_jobs),
                "redelivery": _redelivery_after_kill(rig, sim, env, settings),
            }
    results["visibility_timeout_s"] = settings.visibility_timeout
    return results


def _settings(env: dict[str, str]) -> Settings:
    """The workers' settings, as the producer in this process must see them too."""
    return Settings.model_validate({k.removeprefix("CONFREC_").lower(): v for k, v in env.items()})


def _jobs(n: int, prefix: str) -> list[RecordStartJob]:
    tag = uuid.uuid4().hex[:8]
    return [RecordStartJob(conference_id=f"{prefix}{tag}-{i}", format="wav") for i in range(n)]


def _enqueue_rate(settings: Settings, n: int) -> dict[str, Any]:
    producer = Producer(create_app(settings), settings.queue)
    producer.enqueue_many(_jobs(10, "warm-"))  # connect and declare outside the timing
    jobs = _jobs(n, "enq-")
    started = time.perf_counter()
    producer.enqueue_many(jobs)
    seconds = time.perf_counter() - started
    _drain(settings)
    return {"rate": round(n / seconds), "seconds": round(seconds, 2)}


def _drain(settings: Settings) -> None:
    """Throw the enqueue round's messages away: no worker is meant to run them."""
    app = create_app(settings)
    with app.connection_for_write() as conn:
        app.amqp.queues[settings.queue].bind(conn.default_channel).purge()


def _outcomes(rig: Rig, settings: Settings) -> int:
    return int(rig.client().xlen(settings.results_stream))


def _e2e_rate(
    rig: Rig,
    sim: ManagedProcess,
    env: dict[str, str],
    settings: Settings,
    n: int,
) -> dict[str, Any]:
    with ExitStack() as workers:
        rig.workers(workers, sim, ["e2e-" + settings.queue], env=env)
        before = _outcomes(rig, settings)
        producer = Producer(create_app(settings), settings.queue)
        started = time.perf_counter()
        producer.enqueue_many(_jobs(n, "e2e-"))
        wait_until(lambda: _outcomes(rig, settings) >= before + n, 600, f"{n} outcomes", 0.02)
        seconds = time.perf_counter() - started
    return {"rate": round(n / seconds), "seconds": round(seconds, 2)}


def _redelivery_after_kill(
    rig: Rig,
    sim: ManagedProcess,
    env: dict[str, str],
    settings: Settings,
) -> dict[str, Any]:
    conference = f"slow-{SLOW_MS}-kill-{uuid.uuid4().hex[:8]}"
    with ExitStack() as workers:
        (victim,) = rig.workers(workers, sim, ["victim-" + settings.queue], env=env)
        Producer(create_app(settings), settings.queue).enqueue(
            RecordStartJob(conference_id=conference, format="wav")
        )
        wait_until(lambda: len(_requests(sim, conference)) == 1, 30, "the job in flight", 0.01)
        rig.workers(workers, sim, ["heir-" + settings.queue], env=env)  # idle, ready to take it
        victim.kill_group()
        killed_at = time.time()
        wait_until(
            lambda: len(_requests(sim, conference)) >= 2,
            settings.longest_redelivery_s + 30,
            "the redelivery",
            0.05,
        )
        seconds = _requests(sim, conference)[1]["t"] - killed_at
    return {"seconds": round(seconds, 2), "bound_s": settings.longest_redelivery_s}


def _requests(sim: ManagedProcess, conference: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{sim.extra['root']}/_sim/requests", params={"conference_id": conference}, timeout=5
    )
    requests: list[dict[str, Any]] = response.json()
    return requests
