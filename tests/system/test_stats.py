"""``confrec stats`` against the real broker: exactly what was enqueued, what a worker holds,
the window's outcomes by status/reason, and the fleet throttle's state."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from confrec.config.settings import Settings
from confrec.tasks.job import TASK_NAME, Outcome, Reason, RecordStartJob, Status
from confrec.tasks.publishing.producer import Producer
from confrec.tasks.store import keys
from confrec.worker.cli.stats import Stats, collect
from confrec.worker.local.processes import free_port, wait_until
from tests.support.system import System, unique


def private_env() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {"CONFREC_QUEUE": f"stats-{tag}", "CONFREC_RESULTS_STREAM": f"stats-results-{tag}"}


def stats_json(system: System, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = system.cli("stats", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    printed: dict[str, Any] = json.loads(result.stdout)
    return printed


def snapshot(system: System, env: dict[str, str]) -> Stats:
    """The same numbers without a process per poll (for bounded waits)."""
    settings = Settings(
        broker_url=system.redis_url,
        queue=env["CONFREC_QUEUE"],
        results_stream=env["CONFREC_RESULTS_STREAM"],
    )
    return collect(system.client, system.state, settings)


def test_queue_depth_is_exactly_what_was_enqueued(system: System, tmp_path: Path) -> None:
    idle = private_env()  # no worker consumes it
    assert stats_json(system, idle)["queue_depth"] == 0
    rows = "".join(
        json.dumps({"conference_id": unique(), "format": "wav"}) + "\n" for _ in range(7)
    )
    (tmp_path / "jobs.jsonl").write_text(rows)
    assert system.cli("bulk", str(tmp_path / "jobs.jsonl"), env=idle).returncode == 0
    # Another service may send with a priority: kombu keeps those in a second list.
    system.app.send_task(
        TASK_NAME,
        kwargs={"conference_id": unique(), "format": "mp3"},
        queue=idle["CONFREC_QUEUE"],
        priority=9,
    )
    shown = stats_json(system, idle)
    assert (shown["queue"], shown["queue_depth"]) == (idle["CONFREC_QUEUE"], 8)
    table = system.cli("stats", env=idle).stdout
    assert f"queue {idle['CONFREC_QUEUE']}" in table and " 8 " in table


@pytest.fixture
def private_worker(system: System) -> Iterator[dict[str, str]]:
    """A worker of its own queue and results stream, so every count is this test's."""
    env = private_env()
    proc = system.start_worker(f"stats{uuid.uuid4().hex[:6]}", env)
    try:
        yield env
    finally:
        proc.stop()


def test_jobs_are_in_flight_while_running_then_counted_by_status_and_reason(
    system: System, private_worker: dict[str, str]
) -> None:
    env = private_worker
    stream = env["CONFREC_RESULTS_STREAM"]
    now_ms = int(system.client.time()[0]) * 1000
    old = Outcome(job_id="old", conference_id="c", command_id="x", status="failed",
                  reason="retries_exhausted")  # fmt: skip
    system.client.xadd(
        stream,
        {"outcome": old.to_json(), "job_id": "old", "status": "failed"},
        id=f"{now_ms - 2 * 3600 * 1000}-0",  # two hours ago: outside the default window
    )
    before = snapshot(system, env).in_flight  # other queues' unacked messages, if any

    conferences = [unique("slow-1500-") for _ in range(2)] + [unique() for _ in range(3)]
    conferences += [unique("missing-") for _ in range(2)]
    jobs = [RecordStartJob(conference_id=c, format="wav") for c in conferences]
    Producer(system.app, env["CONFREC_QUEUE"]).enqueue_many(jobs)
    system.app.send_task(
        TASK_NAME, kwargs={"conference_id": unique(), "format": "ogg"}, queue=env["CONFREC_QUEUE"]
    )

    # The five fast jobs finish at once; the two slow ones are held by the worker.
    wait_until(lambda: snapshot(system, env).in_flight == before + 2, 10, "two jobs in flight")
    wait_until(lambda: sum(snapshot(system, env).outcomes.values()) == 8, 20, "eight outcomes")
    wait_until(lambda: snapshot(system, env).in_flight == before, 10, "every job acknowledged")

    shown = stats_json(system, env)
    assert shown["outcomes"] == {"failed/invalid": 1, "failed/rejected": 2, "succeeded/ok": 5}
    assert (shown["outcomes_total"], shown["queue_depth"], shown["window_s"]) == (8, 0, 3600)
    wider = stats_json(system, env, "--window", str(3 * 3600))
    assert wider["outcomes"]["failed/retries_exhausted"] == 1
    assert wider["outcomes_total"] == 9


def test_counts_span_many_pages_exactly(system: System) -> None:
    """More entries than three XRANGE pages: none counted twice, none skipped."""
    env = private_env()
    entries: list[tuple[Status, Reason]] = [("succeeded", "ok")] * 2345
    entries += [("failed", "rejected")] * 1000
    with system.client.pipeline(transaction=False) as pipe:
        for i, (status, reason) in enumerate(entries):
            outcome = Outcome(
                job_id=f"j{i}", conference_id="c", command_id=None, status=status, reason=reason
            )
            pipe.xadd(env["CONFREC_RESULTS_STREAM"], {"outcome": outcome.to_json()})
        pipe.execute()
    shown = stats_json(system, env)
    assert shown["outcomes"] == {"failed/rejected": 1000, "succeeded/ok": 2345}


@pytest.fixture
def throttle_keys(system: System) -> Iterator[None]:
    """The fleet's real bucket and pause keys, removed afterwards so no worker waits."""
    try:
        yield
    finally:
        system.client.delete(keys.RATE_BUCKET, keys.FLEET_PAUSE)


def test_rate_limit_state_shows_tokens_and_fleet_pause(system: System, throttle_keys: None) -> None:
    env = {**private_env(), "CONFREC_RATE_LIMIT": "0.01", "CONFREC_RATE_BURST": "10"}
    system.client.delete(keys.RATE_BUCKET, keys.FLEET_PAUSE)
    idle = stats_json(system, env)["rate"]
    assert idle == {
        "rate_limit": 0.01,
        "rate_burst": 10,
        "tokens": 10.0,  # no bucket yet: full
        "pause_remaining_ms": 0,
    }

    seconds, _ = system.client.time()
    system.client.hset(keys.RATE_BUCKET, mapping={"tokens": "2", "ts": str(seconds)})
    system.client.expire(keys.RATE_BUCKET, 60)
    system.client.set(keys.FLEET_PAUSE, "1", px=30_000)
    rate = stats_json(system, env)["rate"]
    assert 2.0 <= rate["tokens"] < 2.1  # refilled at 0.01/s for the second or two since
    assert 20_000 < rate["pause_remaining_ms"] <= 30_000

    table = system.cli("stats", env=env).stdout
    assert "0.01/s, burst 10" in table
    assert "tokens in bucket" in table and "2.0" in table
    assert "s left" in table


def test_without_a_rate_limit_no_tokens_are_reported(system: System) -> None:
    rate = stats_json(system, private_env())["rate"]
    assert (rate["rate_limit"], rate["tokens"]) == (None, None)


def test_unreachable_broker_exits_3_naming_it(system: System) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = system.cli("stats", env={"CONFREC_BROKER_URL": url})
    assert result.returncode == 3
    assert result.stderr.startswith(f"error: broker {url}:")
