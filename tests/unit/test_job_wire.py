"""What a RecordStartJob becomes (tasks/job.py): its request body, its task kwargs and their
round trip through JSON, derived command ids, and Outcome's JSON. The fields' rules and
the spec drift check: test_job_fields.py."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from confrec.tasks.job import Outcome, RecordStartJob, derived_command_id
from tests.support.job import FULL, job

# --- request_body / task_kwargs ---------------------------------------------------------


def test_request_body_minimal_has_only_format() -> None:
    assert job().request_body() == {"format": "wav"}


def test_request_body_full_leaves_out_the_conference_and_the_labels() -> None:
    expected = {k: v for k, v in FULL.items() if k not in ("conference_id", "labels")}
    assert RecordStartJob.model_validate(FULL).request_body() == expected


def test_request_body_keeps_false_play_beep() -> None:
    assert job(play_beep=False).request_body() == {"format": "wav", "play_beep": False}


def test_task_kwargs_leave_out_unset_fields() -> None:
    assert job(region="US").task_kwargs() == {
        "conference_id": "conf-1",
        "format": "wav",
        "region": "US",
    }


@pytest.mark.parametrize(
    "fields",
    [{}, {k: v for k, v in FULL.items() if k not in ("conference_id", "format")}],
)
def test_task_kwargs_round_trip_through_json(fields: dict[str, Any]) -> None:
    original = job(**fields)
    wire = json.loads(json.dumps(original.task_kwargs()))
    assert RecordStartJob.model_validate(wire) == original


def test_task_kwargs_are_revalidated_on_the_way_back() -> None:
    wire = json.loads(json.dumps(job().task_kwargs()))
    wire["format"] = "ogg"
    with pytest.raises(ValidationError):
        RecordStartJob.model_validate(wire)


# --- command ids ------------------------------------------------------------------------


def test_derived_command_id_is_stable_uuid5() -> None:
    a = derived_command_id("batch-1", job(channels="dual", region="US"))
    b = derived_command_id("batch-1", job(region="US", channels="dual"))
    assert a == b
    assert uuid.UUID(a).version == 5


@pytest.mark.parametrize(
    ("seed", "other"),
    [
        ("batch-1", job(conference_id="conf-2")),
        ("batch-1", job(format="mp3")),
        ("batch-1", job(play_beep=False)),
        ("batch-2", job()),
    ],
)
def test_derived_command_id_differs_across_seeds_and_rows(seed: str, other: RecordStartJob) -> None:
    assert derived_command_id("batch-1", job()) != derived_command_id(seed, other)


def test_with_command_id_sets_missing_id_without_mutating() -> None:
    original = job()
    fixed = original.with_command_id("cmd-new")
    assert fixed.command_id == "cmd-new"
    assert original.command_id is None
    assert fixed.request_body() == {"format": "wav", "command_id": "cmd-new"}


def test_with_command_id_keeps_producers_id() -> None:
    assert job(command_id="producer-id").with_command_id("cmd-new").command_id == "producer-id"


# --- Outcome ----------------------------------------------------------------------------

CONTRACT_KEYS = {
    "job_id",
    "conference_id",
    "command_id",
    "status",
    "reason",
    "http_status",
    "attempts",
    "errors",
    "enqueued_at",
    "finished_at",
}


def outcome(**fields: Any) -> Outcome:
    base: dict[str, Any] = {
        "job_id": "job-1",
        "conference_id": "conf-1",
        "command_id": None,
        "status": "failed",
        "reason": "invalid",
    }
    return Outcome.model_validate(base | fields)


def test_outcome_json_has_contract_keys_even_when_unset() -> None:
    data = json.loads(outcome().to_json())
    assert set(data) == CONTRACT_KEYS
    assert data["command_id"] is None
    assert data["http_status"] is None
    assert data["enqueued_at"] is None
    assert data["errors"] == []
    assert data["attempts"] == 0
    assert data["finished_at"].endswith("+00:00")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch", "batch-7"),
        ("detail", "ReadTimeout"),
        ("duplicate_of", "job-0"),
        ("redelivered", 2),
        ("redelivered_after_dedupe_window", False),
    ],
)
def test_outcome_json_has_extra_only_when_set(key: str, value: Any) -> None:
    data = json.loads(outcome(**{key: value}).to_json())
    assert set(data) == CONTRACT_KEYS | {key}
    assert data[key] == value


def test_outcome_json_carries_errors() -> None:
    errors = [{"code": "10007", "title": "Not found", "detail": "gone"}]
    data = json.loads(outcome(errors=errors, http_status=404, reason="rejected").to_json())
    assert data["errors"] == errors
    assert data["http_status"] == 404
