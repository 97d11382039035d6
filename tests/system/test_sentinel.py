"""Redis behind Sentinel: a master, a replica and three sentinels, real processes.

The master is SIGKILLed under a batch; Sentinel promotes the replica and the workers,
the producer and every state client follow it. Every job still ends with exactly one
outcome and each conference sees one command_id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from confrec.config.settings import Settings
from confrec.tasks.store import keys
from confrec.worker.broker.clients import redis_client
from confrec.worker.local.processes import ManagedProcess, start_serve, wait_until, worker_pids
from confrec.worker.local.sentinel import SentinelCluster, start_sentinel_cluster
from tests.support.system import API_KEY, QUICK_REDELIVERY, System

MASTER = "confrec-test"
PASSWORD = "sentinel-master-pw-9f3c"
JOBS = 200


@dataclass
class SentinelSystem(System):
    """System whose own Redis clients ask the sentinels for the master."""

    @property
    def client(self) -> redis.Redis:
        return redis_client(self.redis_url, master_name=MASTER)

    @property
    def state(self) -> redis.Redis:
        return redis_client(self.env.get("CONFREC_REDIS_URL", self.redis_url), master_name=MASTER)

    @property
    def settings(self) -> Settings:
        return super().settings.model_copy(update={"sentinel_master": MASTER})


def beating(system: System) -> set[int]:
    """The processes whose consumers of this queue have a live heartbeat (consumer ids
    are host:pid:random)."""
    client, queue = system.client, system.settings.queue
    consumers = [str(c) for c, q in client.hgetall(keys.CONSUMERS).items() if q == queue]
    return {int(c.split(":")[-2]) for c in consumers if client.exists(keys.consumer_alive(c))}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelCluster]:
    cluster = start_sentinel_cluster(tmp_path_factory.mktemp("sentinel"), MASTER, password=PASSWORD)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def sentinel_system(
    cluster: SentinelCluster, simulator: ManagedProcess, tmp_path: Path
) -> Iterator[SentinelSystem]:
    tag = uuid.uuid4().hex[:8]
    url = cluster.url()
    system = SentinelSystem(
        tmp_path,
        url,
        simulator.extra["root"],
        {
            "CONFREC_BROKER_URL": url,
            "CONFREC_SENTINEL_MASTER": MASTER,
            "TELNYX_API_KEY": API_KEY,
            "TELNYX_BASE_URL": simulator.extra["base_url"],
            "CONFREC_QUEUE": f"queue-{tag}",
            "CONFREC_RESULTS_STREAM": f"results-{tag}",
            "CONFREC_RETRY_BACKOFF_INITIAL": "0.05",
            "CONFREC_RETRY_BACKOFF_MAX": "0.5",
            **QUICK_REDELIVERY,
        },
    )
    try:
        yield system
    finally:
        system.stop_workers()


def test_serve_stats_and_enqueue_work_on_sentinel_urls(sentinel_system: SentinelSystem) -> None:
    serve = start_serve(sentinel_system.workdir, {**sentinel_system.env, "CONFREC_API_TOKENS": "t"})
    try:
        # start_serve waited for /healthz 200: the broker and the state answered via Sentinel
        enqueued = sentinel_system.cli("enqueue", "sentinel-conf", "--format", "wav", "--json")
        assert enqueued.returncode == 0, enqueued.stderr
        stats = sentinel_system.cli("stats", "--json")
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["queue_depth"] == 1
        assert PASSWORD not in serve.log() + enqueued.stderr + stats.stderr
    finally:
        serve.stop()


def test_master_killed_mid_batch_loses_no_job_and_starts_no_second_recording(
    cluster: SentinelCluster, sentinel_system: SentinelSystem
) -> None:
    system = sentinel_system
    workers = system.start_workers([f"sent{i}" for i in range(2)])
    tag = uuid.uuid4().hex[:8]
    conferences = [f"slow-200-{tag}-{i:03d}" for i in range(JOBS)]
    job_ids = system.enqueue(conferences)
    wait_until(lambda: system.published() >= 20, 30, "20 outcomes before the master dies")

    state = redis_client(system.redis_url, master_name=MASTER)  # one client, old and new
    assert state.info("server")["tcp_port"] == int(cluster.master.extra["port"])

    cluster.master.kill_group()
    promoted = cluster.wait_for_failover(timeout=20)
    assert state.info("server")["tcp_port"] == promoted  # its next command: the new master

    outcomes = system.outcomes(job_ids, timeout=60)
    # Each worker fetches reliably again, on the new master: heartbeat, sweeper and all.
    wait_until(
        lambda: beating(system) == set().union(*map(worker_pids, workers)),
        15,
        "heartbeats after the failover",
    )
    assert {job: len(o) for job, o in outcomes.items() if len(o) != 1} == {}
    assert {o[0].status for o in outcomes.values()} == {"succeeded"}
    stats = system.sim("/_sim/stats")["conferences"]
    assert [c for c in conferences if len(stats[c]["command_ids"]) != 1] == []
    assert all(w.alive() for w in workers)
    assert not any(PASSWORD in w.log() for w in workers)
