"""RabbitMQ as the broker: a quorum queue, with a delivery limit and a dead-letter queue,
that survives a restart (the delivery limit itself: test_guarantees.py, both brokers)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from confrec.worker.local.processes import wait_until
from confrec.worker.local.rabbitmq import RabbitNode
from tests.support.system import System


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
