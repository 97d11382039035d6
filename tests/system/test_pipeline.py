"""One job's path through real processes: producer → Redis → worker → simulator → stream."""

from __future__ import annotations

import sys
from collections.abc import Callable

from confrec.tasks.job import TASK_NAME, RecordStartJob, derived_command_id
from confrec.worker.local.processes import start_worker
from tests.support.system import System, unique


def enqueue(system: System, conference_id: str, **fields: object) -> str:
    job = RecordStartJob.model_validate({"conference_id": conference_id, "format": "wav", **fields})
    return system.producer().enqueue(job).job_id


def test_success_sends_one_request_with_the_jobs_command_id(system: System) -> None:
    conference = unique()
    job_id = enqueue(system, conference, channels="dual", play_beep=True)
    outcome = system.outcome(job_id)
    assert (outcome.status, outcome.reason, outcome.http_status, outcome.attempts) == (
        "succeeded",
        "ok",
        200,
        1,
    )
    assert outcome.conference_id == conference
    assert outcome.enqueued_at and outcome.finished_at >= outcome.enqueued_at
    assert [r["command_id"] for r in system.sim_requests(conference)] == [outcome.command_id]


def test_conference_id_survives_the_path_as_one_segment(system: System) -> None:
    conference = unique("board / Q4 #1 ?café é ")
    outcome = system.outcome(enqueue(system, conference))
    assert outcome.status == "succeeded"
    assert len(system.sim_requests(conference)) == 1


def test_transient_failures_are_retried_under_one_command_id(system: System) -> None:
    conference = unique("flaky-2-")
    outcome = system.outcome(enqueue(system, conference))
    assert (outcome.status, outcome.attempts) == ("succeeded", 3)
    requests = system.sim_requests(conference)
    assert [r["status"] for r in requests] == [503, 503, 200]
    assert {r["command_id"] for r in requests} == {outcome.command_id}


def test_dropped_connection_is_retried(system: System) -> None:
    conference = unique("drop-1-")
    outcome = system.outcome(enqueue(system, conference))
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)


def test_408_is_transient(system: System) -> None:
    outcome = system.outcome(enqueue(system, unique("timeout408-1-")))
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)


def test_429_retry_after_is_honoured(system: System) -> None:
    conference = unique("ratelimited-1-")
    outcome = system.outcome(enqueue(system, conference))
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)
    first, second = system.sim_requests(conference)
    assert first["status"] == 429
    assert second["t"] - first["t"] >= 0.95  # Retry-After: 1, not the 50 ms backoff


def test_terminal_4xx_after_exactly_one_request_with_telnyx_errors(system: System) -> None:
    missing, ended = unique("missing-"), unique("ended-")
    ids = [enqueue(system, missing), enqueue(system, ended)]
    outcomes = system.outcomes(ids)
    not_found, gone = outcomes[ids[0]][0], outcomes[ids[1]][0]
    assert (not_found.status, not_found.reason, not_found.http_status) == (
        "failed",
        "rejected",
        404,
    )
    assert not_found.errors[0].code == "90058"
    assert (gone.http_status, gone.errors[0].code) == (422, "90019")
    assert gone.errors[0].title == "Conference has already ended"
    assert len(system.sim_requests(missing)) == len(system.sim_requests(ended)) == 1


def test_retries_are_bounded_by_attempts(system: System) -> None:
    conference = unique("flaky-100-")
    outcome = system.outcome(enqueue(system, conference))
    assert (outcome.status, outcome.reason, outcome.http_status) == (
        "failed",
        "retries_exhausted",
        503,
    )
    assert outcome.attempts == 4 == len(system.sim_requests(conference))


def test_invalid_send_task_gets_an_invalid_outcome_and_no_http_call(system: System) -> None:
    conference = unique()
    result = system.app.send_task(
        "confrec.record_start",
        kwargs={"conference_id": conference, "format": "ogg", "colour": "red"},
        queue="record_start",
    )
    outcome = system.outcome(result.id)
    assert (outcome.status, outcome.reason, outcome.attempts) == ("failed", "invalid", 0)
    assert {e.title for e in outcome.errors} == {"format", "colour"}
    assert system.sim_requests(conference) == []


def test_send_task_without_command_id_gets_one_derived_from_the_job_id(system: System) -> None:
    conference = unique()
    kwargs = {"conference_id": conference, "format": "mp3"}
    result = system.app.send_task("confrec.record_start", kwargs=kwargs, queue="record_start")
    outcome = system.outcome(result.id)
    expected = derived_command_id(result.id, RecordStartJob.model_validate(kwargs))
    assert outcome.status == "succeeded"
    assert outcome.command_id == expected
    assert [r["command_id"] for r in system.sim_requests(conference)] == [expected]


def test_a_plain_celery_worker_runs_the_task_by_its_name(
    isolated: Callable[..., System],
) -> None:
    """``celery -A confrec.worker.app worker``: the app, its transport and its task resolve
    by their documented names without confrec's CLI; a job sent by name is done once."""
    system = isolated()
    conference = unique("celery-a-")
    sent = system.app.send_task(TASK_NAME, kwargs={"conference_id": conference, "format": "mp3"})
    celery = [sys.executable, "-m", "celery", "-A", "confrec.worker.app"]
    options = ["--pool", "threads", "--loglevel", "INFO"]  # INFO: its "ready." line
    worker = start_worker(system.workdir, "celery-a", system.env, options, command=celery)
    try:
        (outcome,) = system.outcomes([str(sent.id)], timeout=60)[str(sent.id)]
    finally:
        worker.stop()
    assert (outcome.status, outcome.reason) == ("succeeded", "ok")
    assert "ReliableTransport" in worker.log()
    assert len(system.sim_requests(conference)) == 1
