"""RabbitMQ as the broker: a quorum queue that survives a restart, and a delivery limit
that ends a poison message in an outcome instead of a silent drop."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from confrec.worker.localrabbit import RabbitNode
from confrec.worker.localstack import wait_until
from tests.conftest import System


def test_the_queue_is_a_quorum_queue_with_a_delivery_limit_and_a_dead_letter_queue(
    isolated: Callable[..., System], rabbit_node: RabbitNode
) -> None:
    system = isolated(broker="rabbitmq", CONFREC_DELIVERY_LIMIT="7")
    system.start_worker("declarer", concurrency=2)
    system.outcomes(system.enqueue([f"quorum-{uuid.uuid4().hex[:8]}"]))
    queue = rabbit_node.queue(system.settings.queue)
    dead = rabbit_node.queue(system.settings.dead_letter_queue)
    assert queue is not None and dead is not None
    assert (queue["type"], dead["type"]) == ("quorum", "quorum")
    assert queue["arguments"]["x-delivery-limit"] == 7
    assert queue["arguments"]["x-dead-letter-routing-key"] == system.settings.dead_letter_queue


def test_a_message_that_kills_every_worker_ends_failed_at_the_delivery_limit(
    isolated: Callable[..., System],
) -> None:
    system = isolated(broker="rabbitmq", CONFREC_DELIVERY_LIMIT="1")
    conference = f"slow-5000-poison-{uuid.uuid4().hex[:8]}"
    (job_id,) = system.enqueue([conference])
    for delivery in (1, 2):  # each delivery's worker dies mid-request, as an OOM kill would
        worker = system.start_worker(f"victim{delivery}", concurrency=1)

        def requested(count: int = delivery) -> bool:
            return len(system.sim_requests(conference)) == count

        wait_until(requested, 20, f"delivery {delivery} reaching the simulator")
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


@pytest.mark.timeout(180)
def test_jobs_queued_and_in_flight_when_rabbitmq_restarts_each_get_one_outcome(
    isolated: Callable[..., System], rabbit_node: RabbitNode
) -> None:
    system = isolated(broker="rabbitmq", **{"CONFREC_VISIBILITY_TIMEOUT": "20"})
    system.start_worker("through-restart", concurrency=4)
    tag = uuid.uuid4().hex[:8]
    conferences = [f"slow-800-{tag}-{i:02d}" for i in range(20)]
    job_ids = system.enqueue(conferences)
    wait_until(lambda: system.published() >= 4, 20, "the first outcomes")

    rabbit_node.stop()  # acks of the jobs in flight are lost: they come back once
    rabbit_node.start()

    outcomes = system.outcomes(job_ids, timeout=90)
    assert sorted(len(o) for o in outcomes.values()) == [1] * 20
    assert {o[0].status for o in outcomes.values()} == {"succeeded"}
    stats = system.sim("/_sim/stats")["conferences"]
    assert [c for c in conferences if len(stats[c]["command_ids"]) != 1] == []
