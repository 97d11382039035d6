"""Delivery guarantees under faults inflicted on real worker processes."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable

import pytest

from confrec.tasks.store import keys
from confrec.worker.local.processes import wait_until
from tests.support.system import BROKERS, QUICK_REDELIVERY, System, unique


@pytest.mark.parametrize("broker", BROKERS)
def test_sigkill_mid_batch_loses_no_job_and_starts_no_second_recording(
    isolated: Callable[..., System], broker: str
) -> None:
    system = isolated(broker=broker, **QUICK_REDELIVERY)
    doomed = system.start_worker("doomed", concurrency=4)
    system.start_worker("survivor", concurrency=4)
    tag = uuid.uuid4().hex[:8]
    conferences = [f"slow-300-{tag}-{i:03d}" for i in range(60)]
    job_ids = system.enqueue(conferences)
    wait_until(lambda: system.published() >= 10, 30, "10 outcomes before the kill")

    doomed.signal(signal.SIGKILL)
    doomed.popen.wait(10)
    system.start_worker("replacement", concurrency=4)

    outcomes = system.outcomes(job_ids, timeout=90)
    assert {job: len(published) for job, published in outcomes.items() if len(published) != 1} == {}
    assert {o[0].status for o in outcomes.values()} == {"succeeded"}
    assert any(o[0].redelivered for o in outcomes.values()), "the kill hit no job mid-flight"
    stats = system.sim("/_sim/stats")["conferences"]
    for conference in conferences:
        assert len(stats[conference]["command_ids"]) == 1, conference
        assert stats[conference]["recordings"] == 1, conference


@pytest.mark.parametrize("broker", BROKERS)
def test_sigterm_finishes_in_flight_jobs_and_takes_no_new_ones(
    isolated: Callable[..., System], broker: str
) -> None:
    # Two worker processes of one thread each (the per-CPU default, pinned to 2 so that
    # any machine has the same two jobs in flight): the supervisor forwards the SIGTERM.
    system = isolated(broker=broker, CONFREC_WORKER_PROCESSES="2")
    worker = system.start_worker("graceful", concurrency=1)
    tag = uuid.uuid4().hex[:8]
    conferences = [f"slow-1500-{tag}-{i}" for i in range(6)]  # answered within the timeout
    job_ids = system.enqueue(conferences)

    def requested() -> list[str]:
        return [c for c in conferences if system.sim_requests(c)]

    in_flight: list[str] = []

    def two_in_flight() -> bool:
        in_flight[:] = requested()
        return len(in_flight) == 2

    wait_until(two_in_flight, 20, "two jobs in flight")
    worker.signal(signal.SIGTERM)  # well inside the 1.5 s the two jobs take
    assert worker.popen.wait(20) == 0

    assert system.published() == 2
    wait_until(lambda: system.deliveries()["queued"] == 4, 10, "4 jobs handed back, not lost")
    assert requested() == in_flight  # nothing new was started after SIGTERM

    system.start_worker("successor", concurrency=4)
    outcomes = system.outcomes(job_ids, timeout=30)
    assert sorted(len(o) for o in outcomes.values()) == [1] * 6
    assert {o[0].status for o in outcomes.values()} == {"succeeded"}
    finished_first = {o[0].conference_id for o in outcomes.values() if not o[0].redelivered}
    assert set(in_flight) <= finished_first


#: QUICK_REDELIVERY with no time for a retry: for a job each of whose deliveries is killed
#: mid-request (within the same 2 s HTTP timeout), never retried. The visibility timeout a
#: redelivery on Redis waits out is then the smallest valid one: > 0.1 + 2 + 5 s margin.
KILLED_NOT_RETRIED = {
    **QUICK_REDELIVERY,
    "CONFREC_RETRY_DEADLINE": "0.1",
    "CONFREC_VISIBILITY_TIMEOUT": "7.2",
}


@pytest.mark.parametrize("broker", BROKERS)
def test_a_message_that_kills_every_worker_ends_failed_at_the_delivery_limit(
    isolated: Callable[..., System], broker: str
) -> None:
    """RabbitMQ dead-letters the message after its second return; on Redis the ledger
    counts the deliveries and the third one gives up."""
    # One process per worker: the message kills the process it runs in. With several, a
    # sibling dying a moment later would take the redelivery and count it too (RabbitMQ's
    # delivery count is per delivery, whoever takes it).
    system = isolated(
        broker=broker,
        CONFREC_DELIVERY_LIMIT="1",
        CONFREC_WORKER_PROCESSES="1",
        **KILLED_NOT_RETRIED,
    )
    conference = f"slow-5000-poison-{uuid.uuid4().hex[:8]}"
    (job_id,) = system.enqueue([conference])
    for delivery in (1, 2):  # each delivery's worker dies mid-request, as an OOM kill would
        worker = system.start_worker(f"victim{delivery}", concurrency=1)

        def requested(count: int = delivery) -> bool:
            return len(system.sim_requests(conference)) == count

        wait_until(requested, 40, f"delivery {delivery} reaching the simulator")
        worker.kill_group()

    system.start_worker("survivor", concurrency=1)
    outcome = system.outcome(job_id, timeout=40)
    assert (outcome.status, outcome.reason, outcome.detail) == (
        "failed",
        "retries_exhausted",
        "delivery_limit",
    )
    assert outcome.attempts == 2
    assert len(system.sim_requests(conference)) == 2  # given up, not sent a third time


def consumer_queues(system: System) -> set[str]:
    return {str(queue) for queue in system.client.hvals(keys.CONSUMERS)}


def test_a_message_fetched_by_a_worker_killed_before_recording_it_is_recovered(
    isolated: Callable[..., System],
) -> None:
    """The pop window, made wide on purpose: the worker is frozen with its fetch pending,
    so Redis moves the job to it and nothing on the worker records it. With a plain BRPOP
    the job would now exist only in a dead process's socket."""
    # One worker process: SIGSTOP freezes it with its fetch pending (with several, it
    # would freeze only their supervisor).
    system = isolated(CONFREC_WORKER_PROCESSES="1")
    # With mingle, as `confrec worker` runs by default: its reply queue is consumed on the
    # same channel first, and the in-flight list must still go back to the task queue.
    frozen = system.start_worker("frozen", concurrency=1, mingle=True)
    wait_until(lambda: system.settings.queue in consumer_queues(system), 10, "registered")
    frozen.signal(signal.SIGSTOP)
    job_id = system.enqueue([unique()])[0]
    wait_until(lambda: system.deliveries()["inflight"] == 1, 10, "the job moved to the worker")
    assert system.deliveries() == {"queued": 0, "unacked": 0, "inflight": 1}

    frozen.kill_group()
    killed_at = time.monotonic()
    system.start_worker("rescuer", concurrency=2)
    outcome = system.outcome(job_id, timeout=40)
    assert outcome.status == "succeeded"
    print(f"recovered and finished {time.monotonic() - killed_at:.1f}s after the kill")
