"""Workers survive any message on the job queue, on both brokers: each bad message with a
task id ends as exactly one ``invalid`` outcome, one without is set aside and counted, a
hostile task id never reaches a key or a log line, and the worker consumes the next job."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu
import pytest

from confrec.tasks.job import TASK_NAME, Outcome
from confrec.tasks.store import keys
from confrec.worker.inbound import job_id_for
from confrec.worker.local.processes import ManagedProcess, free_port, wait_until
from tests.support.system import API_KEY, BROKERS, FAST_RETRIES, System, unique_id
from tests.system.test_worker_metrics import scrape

SET_ASIDE = "confrec_messages_set_aside_total"


class Fleet:
    """One worker (with its metrics port) on one broker, shared by this module's tests."""

    def __init__(self, system: System, worker: ManagedProcess, port: int) -> None:
        self.system, self.worker, self.port = system, worker, port

    def publish(self, body: bytes, headers: dict[str, Any], content_type: str = "") -> None:
        """A message as a raw producer sends it (kombu, straight to the queue)."""
        with kombu.Connection(self.system.broker_url) as conn:
            conn.Producer().publish(
                body,
                routing_key=self.system.settings.queue,
                content_type=content_type or "application/json",
                content_encoding="utf-8",
                headers=headers,
            )

    def carries_on(self) -> None:
        """The worker is alive and a good job sent after the bad ones succeeds."""
        (job_id,) = self.system.enqueue([unique_id()])
        assert self.system.outcome(job_id).status == "succeeded"
        assert self.worker.alive()

    def invalid(self, job_id: str) -> Outcome:
        """The one outcome of a job that could not run."""
        outcome = self.system.outcome(job_id)
        assert (outcome.status, outcome.reason) == ("failed", "invalid"), outcome
        return outcome

    def set_aside(self, reason: str) -> float:
        return scrape(self.port).get((SET_ASIDE, (("reason", reason),)), 0)


@pytest.fixture(scope="module", params=BROKERS)
def fleet(
    request: pytest.FixtureRequest,
    redis_proc: ManagedProcess,
    simulator: ManagedProcess,
    workdir: Path,
) -> Iterator[Fleet]:
    tag = uuid.uuid4().hex[:8]
    env = {
        "CONFREC_BROKER_URL": redis_proc.extra["url"],
        "TELNYX_API_KEY": API_KEY,
        "TELNYX_BASE_URL": simulator.extra["base_url"],
        "CONFREC_QUEUE": f"queue-{tag}",
        "CONFREC_RESULTS_STREAM": f"results-{tag}",
        **FAST_RETRIES,
    }
    rabbit = None
    if request.param == "rabbitmq":
        rabbit = request.getfixturevalue("rabbit_node")
        env |= {"CONFREC_BROKER_URL": rabbit.url, "CONFREC_REDIS_URL": redis_proc.extra["url"]}
    port = free_port()
    env["CONFREC_METRICS_PORT"] = str(port)
    system = System(workdir / f"messages-{tag}", redis_proc.extra["url"], "", env, rabbit=rabbit)
    system.sim_root = simulator.extra["root"]
    worker = system.start_worker(f"msg{tag}", concurrency=2)
    yield Fleet(system, worker, port)
    system.stop_workers()


def _task(job_id: str | None = None, **headers: Any) -> dict[str, Any]:
    found = {"task": TASK_NAME, "id": job_id or str(uuid.uuid4()), "lang": "py"}
    return found | headers


def test_a_body_that_is_not_json_ends_invalid(fleet: Fleet) -> None:
    headers = _task()
    fleet.publish(b'{"not": json', headers)
    assert "not valid JSON" in str(fleet.invalid(headers["id"]).errors[0].detail)
    fleet.carries_on()


def test_another_content_type_ends_invalid_without_decoding_it(fleet: Fleet) -> None:
    headers = _task()
    fleet.publish(b"\x80\x04\x95 not decoded", headers, "application/x-python-serialize")
    assert "content type" in str(fleet.invalid(headers["id"]).errors[0].detail)
    fleet.carries_on()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('"a string"', "not [args, kwargs, embed]"),
        ('[{"conference_id": "x"}, {}, {}]', "args is not an array"),
        ('[[], ["x"], {}]', "kwargs is not an object"),
        ('[[], {}, "x"]', "embed is not an object"),
        ("[[], {}]", "not [args, kwargs, embed]"),
    ],
)
def test_wrong_shapes_end_invalid(fleet: Fleet, body: str, problem: str) -> None:
    headers = _task()
    fleet.publish(body.encode(), headers)
    assert problem in str(fleet.invalid(headers["id"]).errors[0].detail)
    fleet.carries_on()


def test_a_lone_surrogate_ends_as_exactly_one_invalid_outcome(fleet: Fleet) -> None:
    job_id = str(uuid.uuid4())
    fleet.system.app.send_task(
        TASK_NAME,
        kwargs={"conference_id": "\ud800", "format": "wav"},
        queue=fleet.system.settings.queue,
        task_id=job_id,
    )
    outcome = fleet.invalid(job_id)  # exactly one (System.outcome reads them all)
    assert outcome.conference_id == "\\ud800"  # escaped: UTF-8 cannot carry it
    assert outcome.errors[0].title == "conference_id"
    fleet.carries_on()


@pytest.mark.parametrize(
    "raw_id",
    ["victimjob attacker", "forged\n[2026-12-07 00:00:00,000: INFO] job x succeeded", "é" * 3],
)
def test_a_hostile_task_id_runs_under_an_id_derived_from_it(fleet: Fleet, raw_id: str) -> None:
    raw_id += f" {uuid.uuid4()}"  # a fresh job: its derived id is the same on every run
    derived, escaped = job_id_for(raw_id)
    assert derived is not None and derived.startswith("hashed:")
    fleet.publish(
        json.dumps([[], {"conference_id": unique_id(), "format": "wav"}, {}]).encode(),
        _task(raw_id),
    )
    outcome = fleet.system.outcome(derived)
    assert outcome.status == "succeeded"
    assert json.loads(outcome.to_json())["raw_job_id"] == escaped
    assert escaped is not None and escaped.isascii() and "\n" not in escaped
    assert not fleet.system.state.exists(keys.job_done(raw_id))
    assert "forged\n" not in fleet.worker.log()
    fleet.carries_on()


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"task": TASK_NAME, "lang": "py"}, "no_id"),
        ({"task": TASK_NAME, "id": 42}, "no_id"),
        ({"task": "someone.else", "id": "x1"}, "other_task"),
        ({}, "other_task"),
    ],
)
def test_a_message_that_is_no_job_is_set_aside_and_counted(
    fleet: Fleet, headers: dict[str, Any], reason: str
) -> None:
    before = fleet.set_aside(reason)
    fleet.publish(b"[[], {}, {}]", headers)
    wait_until(lambda: fleet.set_aside(reason) == before + 1, 15, f"{reason} counted", 0.2)
    kept = fleet.system.state
    assert kept.llen(keys.UNDELIVERABLE) >= 1 and kept.ttl(keys.UNDELIVERABLE) > 0
    fleet.carries_on()
    assert fleet.system.settled()  # acked: not redelivered, not dead-lettered


# -- Redis only: the reliable fetch reads kombu's envelope itself ------------------------


def _push(fleet: Fleet, envelope: Any) -> None:
    raw = envelope if isinstance(envelope, str) else json.dumps(envelope)
    fleet.system.client.lpush(fleet.system.settings.queue, raw)


def _envelope(job_id: str, body: str) -> dict[str, Any]:
    return {
        "body": body,
        "content-type": "application/json",
        "content-encoding": "utf-8",
        "headers": _task(job_id),
        "properties": {"body_encoding": "base64"},
    }


def test_a_body_that_is_not_base64_ends_invalid_and_the_worker_goes_on(fleet: Fleet) -> None:
    if fleet.system.rabbit is not None:
        pytest.skip("RabbitMQ carries bodies as bytes: no base64")
    job_id = str(uuid.uuid4())
    _push(fleet, _envelope(job_id, "abc"))  # not base64: kombu raised, the worker exited
    assert "cannot be decoded" in str(fleet.invalid(job_id).errors[0].detail)
    fine = str(uuid.uuid4())
    good = json.dumps([[], {"conference_id": unique_id(), "format": "wav"}, {}])
    _push(fleet, _envelope(fine, base64.b64encode(good.encode()).decode()))  # no tag either
    assert fleet.system.outcome(fine).status == "succeeded"
    fleet.carries_on()


def test_an_envelope_that_is_no_message_is_set_aside_and_counted(fleet: Fleet) -> None:
    if fleet.system.rabbit is not None:
        pytest.skip("the reliable fetch is Redis's")
    before = fleet.set_aside("envelope")
    for raw in ["not json at all", "[1, 2]", json.dumps({"headers": ["x"]})]:
        _push(fleet, raw)
    wait_until(lambda: fleet.set_aside("envelope") == before + 3, 15, "envelopes counted", 0.2)
    assert fleet.system.client.ttl(keys.UNDELIVERABLE) > 0
    fleet.carries_on()
