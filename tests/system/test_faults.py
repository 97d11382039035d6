"""No ack without an outcome: each way a delivery can raise, on real worker processes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from confrec.tasks.job import HEADER_BATCH, HEADER_ENQUEUED_AT, TASK_NAME
from confrec.worker.local.processes import ManagedProcess, start_redis, wait_until
from tests.support.system import System, unique

INJECT = str(Path(__file__).parent / "inject")


def test_a_200_whose_body_cannot_be_decoded_is_retried_under_the_same_command_id(
    isolated: Callable[..., System], own_simulator: ManagedProcess
) -> None:
    system = isolated(own_simulator)
    system.start_worker("decoding", concurrency=2)
    once, always = unique("undecodable-1-"), unique("undecodable-99-")
    outcomes = system.outcomes(system.enqueue([once, always]))
    assert sorted(len(o) for o in outcomes.values()) == [1, 1]
    by_conference = {o[0].conference_id: o[0] for o in outcomes.values()}
    recovered, exhausted = by_conference[once], by_conference[always]
    assert (recovered.status, recovered.attempts) == ("succeeded", 2)
    assert (exhausted.status, exhausted.reason, exhausted.detail) == (
        "failed",
        "retries_exhausted",
        "DecodingError",
    )
    stats = system.sim("/_sim/stats")["conferences"]
    for conference in (once, always):
        assert len(stats[conference]["command_ids"]) == 1
        assert stats[conference]["recordings"] == 1  # the repeats were de-duplicated


def test_headers_of_another_type_from_another_service_count_as_absent(system: System) -> None:
    conference = unique()
    result = system.app.send_task(
        TASK_NAME,
        kwargs={"conference_id": conference, "format": "wav"},
        queue=system.settings.queue,
        headers={HEADER_ENQUEUED_AT: 1_733_000_000, HEADER_BATCH: {"not": "a string"}},
    )
    outcome = system.outcome(str(result.id))
    assert outcome.status == "succeeded"
    assert outcome.batch is None
    assert isinstance(outcome.enqueued_at, str) and outcome.enqueued_at.startswith("20")


def test_a_handler_that_keeps_raising_ends_failed_after_bounded_redeliveries(
    isolated: Callable[..., System],
) -> None:
    # One worker process: the injected fault's "once" is remembered per process.
    system = isolated(CONFREC_MAX_FAULTY_DELIVERIES="3", CONFREC_WORKER_PROCESSES="1")
    worker = system.start_worker("faulty", env={"PYTHONPATH": INJECT}, concurrency=2)
    always, once = unique("inject-always-"), unique("inject-once-")
    job_ids = system.enqueue([always, once])
    outcomes = system.outcomes(job_ids, timeout=60)
    assert sorted(len(o) for o in outcomes.values()) == [1, 1]
    by_conference = {o[0].conference_id: o[0] for o in outcomes.values()}
    failed, recovered = by_conference[always], by_conference[once]
    assert (failed.status, failed.reason, failed.detail, failed.faulty_deliveries) == (
        "failed",
        "retries_exhausted",
        "RuntimeError",
        3,
    )
    assert failed.attempts == 0  # it never reached Telnyx
    assert (recovered.status, recovered.attempts) == ("succeeded", 1)
    assert worker.log().count("delivery raised RuntimeError") == 4  # 3 + 1, then settled
    assert system.sim_requests(always) == []


def test_a_state_redis_refusing_writes_holds_jobs_back_without_a_hot_loop(
    isolated: Callable[..., System], tmp_path: Path
) -> None:
    state = start_redis(tmp_path / "state")
    try:
        system = isolated(CONFREC_REDIS_URL=state.extra["url"])
        state_client = system.state
        state_client.config_set("maxmemory-policy", "noeviction")
        state_client.config_set("maxmemory", "1")  # every write refused: OOM
        worker = system.start_worker("refused", concurrency=2)
        tag = uuid.uuid4().hex[:8]
        job_ids = system.enqueue([f"oom-{tag}-{i}" for i in range(3)])

        def refusals() -> int:
            return worker.log().count("Redis failed (OutOfMemoryError)")

        wait_until(lambda: refusals() >= 9, 60, "three refused deliveries per job")
        assert refusals() < 60, "deliveries must back off, not spin"
        assert system.published() == 0
        state_client.config_set("maxmemory", "0")
        outcomes = system.outcomes(job_ids, timeout=60)
        assert sorted(len(o) for o in outcomes.values()) == [1, 1, 1]
        assert {o[0].status for o in outcomes.values()} == {"succeeded"}
    finally:
        state.stop()
