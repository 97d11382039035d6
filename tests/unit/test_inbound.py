"""Judging a message of the job queue (worker/inbound.py), a raw producer's envelope
(worker/broker/envelope.py) and an outcome that UTF-8 cannot carry (tasks/job.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kombu import Message

from confrec.tasks.job import HEADER_RAW_JOB_ID, HEADER_REFUSED, TASK_NAME, Outcome
from confrec.worker.broker import envelope
from confrec.worker.consumer import rewrite
from confrec.worker.inbound import TASK_ID, escaped, job_id_for, judge

JOB = [[], {"conference_id": "c", "format": "wav"}, {}]


def message(body: Any = JOB, content_type: str = "application/json", **headers: Any) -> Message:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    found = {"task": TASK_NAME, "id": "job-1"} | headers
    return kombu_message(raw, content_type, found)


def kombu_message(body: Any, content_type: str, headers: dict[str, Any]) -> Message:
    """A received message as kombu makes it (its stubs say a body is text; it is bytes)."""
    fields: dict[str, Any] = {"body": body, "content_type": content_type, "headers": headers}
    return Message(content_encoding="utf-8", **fields)


def test_a_good_message_runs_under_its_own_id() -> None:
    verdict = judge(message())
    assert (verdict.job_id, verdict.raw_job_id, verdict.problem) == ("job-1", None, None)
    assert verdict.body == ([], {"conference_id": "c", "format": "wav"}, {})


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("victimjob attacker", "victimjob attacker"),
        ("a\nb", "a\\nb"),
        ("\ud800", "\\ud800"),
        ("é", "\\u00e9"),
        ("x" * 129, "x" * 129),
    ],
)
def test_another_id_is_derived_from_its_hash_and_kept_escaped(raw: str, shown: str) -> None:
    job_id, raw_job_id = job_id_for(raw)
    assert job_id is not None and TASK_ID.fullmatch(job_id) and job_id.startswith("hashed:")
    assert job_id_for(raw) == (job_id, raw_job_id)  # every redelivery: the same job
    assert raw_job_id == shown and raw_job_id.isascii()


def test_a_long_raw_id_is_cut() -> None:
    assert escaped("y" * 1000) == "y" * 256 + "..."


@pytest.mark.parametrize("raw", [None, "", 42, ["x"]])
def test_no_usable_id_is_no_job(raw: object) -> None:
    assert job_id_for(raw) == (None, None)
    assert judge(message(id=raw)).problem == "no_id"


@pytest.mark.parametrize(
    ("found", "problem"),
    [
        (message(b"{nope"), "body is not valid JSON"),
        (message(b"[" * 20_000), "body is not valid JSON"),
        (message(b"[[], {}, {}]", "application/x-python-serialize"), "content type"),
        (message("text"), "body is not [args, kwargs, embed]"),
        (message([{}, {}, {}]), "args is not an array"),
        (message([[], [], {}]), "kwargs is not an object"),
        (message([[], {}, 1]), "embed is not an object"),
    ],
)
def test_a_message_that_cannot_run_has_a_problem_and_its_id(found: Message, problem: str) -> None:
    verdict = judge(found)
    assert verdict.job_id == "job-1" and problem in str(verdict.problem)


def test_another_task_is_no_job() -> None:
    assert judge(message(task="other.task")).job_id is None


def test_protocol_1_takes_task_and_id_from_the_body() -> None:
    body = {"task": TASK_NAME, "id": "p1", "args": [], "kwargs": {"format": "wav"}}
    verdict = judge(kombu_message(json.dumps(body).encode(), "application/json", {}))
    assert (verdict.job_id, verdict.protocol_1, verdict.body) == (
        "p1",
        True,
        ([], body["kwargs"], {}),
    )


def test_a_body_the_transport_could_not_decode_is_a_problem() -> None:
    found = kombu_message(
        envelope.UnreadableBody(), "application/json", {"task": TASK_NAME, "id": "u"}
    )
    assert judge(found).problem == envelope.UnreadableBody.unreadable


def test_an_envelope_gets_our_own_tag_and_the_queue_it_came_from() -> None:
    info = {"exchange": "elsewhere", "routing_key": "other\nqueue"}
    raw = {"headers": {"id": "x"}, "properties": {"delivery_tag": "forged", "delivery_info": info}}
    found = envelope.normalized(raw, "q")
    assert found["properties"]["delivery_tag"] != "forged"
    assert found["properties"]["delivery_info"] == {"exchange": "", "routing_key": "q"}


@pytest.mark.parametrize("raw", ["text", [1], {"headers": ["x"]}])
def test_what_is_no_envelope_is_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        envelope.normalized(raw, "q")


def test_an_outcome_with_a_lone_surrogate_still_encodes() -> None:
    outcome = Outcome(
        job_id="j", conference_id="\ud800", command_id=None, status="failed", reason="invalid"
    )
    text = outcome.to_json()
    text.encode()  # UTF-8 takes it
    assert json.loads(text)["conference_id"] == "\\ud800"
    extra = outcome.model_copy(update={"batch": "b\udfff"}).to_json()
    assert json.loads(extra)["batch"] == "b\\udfff"


def test_the_consumers_own_headers_cannot_be_forged() -> None:
    forged = message(confrec_refused="forged", confrec_raw_job_id="forged", batch_of="x")
    rewrite(forged, judge(forged))
    assert HEADER_REFUSED not in forged.headers and HEADER_RAW_JOB_ID not in forged.headers
    assert forged.headers["batch_of"] == "x"  # everything else as it came


def test_a_message_that_cannot_run_becomes_an_empty_job_saying_why() -> None:
    bad = message("text", id="a b", confrec_enqueued_at="t", eta="not a date")
    rewrite(bad, judge(bad))
    derived, raw = job_id_for("a b")
    assert bad.headers == {
        "task": TASK_NAME,
        "id": derived,
        "root_id": derived,
        HEADER_REFUSED: "body is not [args, kwargs, embed]",
        HEADER_RAW_JOB_ID: raw,
        "confrec_enqueued_at": "t",
    }
    assert bad.decode() == [[], {}, {}]
