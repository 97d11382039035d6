"""Broker trouble: Redis unreachable, killed mid-bulk, restarted under a running worker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from confrec.tasks.job import RecordStartJob
from confrec.tasks.publishing.producer import EnqueueError
from confrec.worker.local.processes import ManagedProcess, free_port, start_redis, wait_until
from tests.support.system import System


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[Callable[[], ManagedProcess]]:
    """(Re)starts one redis-server with AOF on the same port and directory."""
    port = free_port()
    started: list[ManagedProcess] = []

    def start() -> ManagedProcess:
        started.append(start_redis(tmp_path, port, appendonly=True))
        return started[-1]

    yield start
    for proc in started:
        proc.stop()


def test_enqueue_with_no_broker_fails_clearly_and_masks_the_password(system: System) -> None:
    dead = f"redis://:hunter2secret@127.0.0.1:{free_port()}/0"
    result = system.cli("enqueue", "conf", "--format", "wav", env={"CONFREC_BROKER_URL": dead})
    assert result.returncode == 3
    assert "unreachable, nothing enqueued" in result.stderr
    assert "hunter2secret" not in result.stderr + result.stdout


def test_bulk_with_no_broker_says_nothing_went_out(system: System, tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"conference_id": "c1", "format": "wav"}\n')
    dead = f"redis://127.0.0.1:{free_port()}/0"
    result = system.cli("bulk", str(path), env={"CONFREC_BROKER_URL": dead})
    assert result.returncode == 3
    assert "failed after 0 of 1 jobs were enqueued" in result.stderr


def test_redis_dying_mid_bulk_reports_exactly_what_was_enqueued(
    isolated: Callable[..., System], aof_redis: Callable[[], ManagedProcess]
) -> None:
    redis_proc = aof_redis()
    system = isolated(redis_url=redis_proc.extra["url"])

    def jobs() -> Iterator[RecordStartJob]:
        for i in range(3000):
            if i == 1000:
                redis_proc.stop()  # SIGTERM: Redis writes its AOF, then the next chunk fails
            yield RecordStartJob(conference_id=f"c{i}", format="wav")

    with pytest.raises(EnqueueError) as failure:
        system.producer().enqueue_many(jobs(), keep=False)
    assert failure.value.enqueued == 1000

    aof_redis()
    assert system.client.llen(system.settings.queue) == 1000


def test_worker_carries_on_when_redis_comes_back(
    isolated: Callable[..., System], aof_redis: Callable[[], ManagedProcess]
) -> None:
    redis_proc = aof_redis()
    system = isolated(redis_url=redis_proc.extra["url"])
    worker = system.start_worker("reconnecting", concurrency=2)
    before = system.enqueue([f"before-{uuid.uuid4().hex[:8]}"])
    system.outcomes(before)

    redis_proc.stop()
    aof_redis()
    after = system.enqueue([f"after-{uuid.uuid4().hex[:8]}"])
    outcome = system.outcomes(after, timeout=60)[after[0]][0]
    assert outcome.status == "succeeded"
    assert worker.alive()


def test_rerunning_a_bulk_file_with_its_batch_key_starts_no_second_recording(
    isolated: Callable[..., System], own_simulator: ManagedProcess, tmp_path: Path
) -> None:
    system = isolated(own_simulator)
    system.start_worker("rerun", concurrency=4)
    conferences = [f"rerun-{uuid.uuid4().hex[:8]}-{i}" for i in range(5)]
    path = tmp_path / "jobs.jsonl"
    path.write_text(
        "".join(json.dumps({"conference_id": c, "format": "mp3"}) + "\n" for c in conferences)
    )

    for _ in range(2):
        result = system.cli(
            "bulk", str(path), "--batch-key", "K-2026", "--wait", "--json", "--timeout", "60"
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["by_reason"] == {"succeeded/ok": 5}

    conferences_seen = system.sim("/_sim/stats")["conferences"]
    assert {c: conferences_seen[c]["requests"] for c in conferences} == dict.fromkeys(
        conferences, 1
    )
    duplicates = [e.outcome for e in system.stream().latest(10) if e.outcome.duplicate_of]
    assert len(duplicates) == 5


def test_jobs_in_flight_when_redis_restarts_each_get_one_outcome(
    isolated: Callable[..., System], aof_redis: Callable[[], ManagedProcess]
) -> None:
    redis_proc = aof_redis()
    system = isolated(
        redis_url=redis_proc.extra["url"],
        CONFREC_RETRY_DEADLINE="3",
        CONFREC_HTTP_TIMEOUT="2",
        CONFREC_VISIBILITY_TIMEOUT="11",
    )
    worker = system.start_worker("midjob", concurrency=4)
    tag = uuid.uuid4().hex[:8]
    conferences = [f"slow-800-{tag}-{i}" for i in range(4)]
    job_ids = system.enqueue(conferences)
    wait_until(lambda: all(system.sim_requests(c) for c in conferences), 20, "jobs in flight")

    redis_proc.stop()  # the answers arrive while Redis is down: no outcome can be written
    wait_until(lambda: "Redis failed mid-job" in worker.log(), 30, "a job meeting the outage")
    aof_redis()
    outcomes = system.outcomes(job_ids, timeout=90)
    assert sorted(len(o) for o in outcomes.values()) == [1, 1, 1, 1]
    assert {o[0].status for o in outcomes.values()} == {"succeeded"}
