"""Flower as operators run it: ``confrec flower`` on the test broker, behind basic auth.

Our jobs show up by name with state, runtime and their readable kwargs; the tasks table
shows each job's conference and outcome reason; an expected rejection carries its reason
and no traceback; and the API key appears nowhere Flower serves or logs.
"""

from __future__ import annotations

import ast
import uuid

import pytest

from confrec.tasks.job import TASK_NAME, RecordStartJob
from confrec.worker.local.processes import free_port, wait_until, worker_nodes
from tests.support.flower import (
    PASSWORD,
    STATES,
    USER,
    Flower,
    flower_tasks,
    job_states,
    table_rows,
    watching,
)
from tests.support.system import API_KEY, System, unique

MISSING = "rejected: 404 90058 Invalid conference_id (attempts 1)"


def test_jobs_show_in_flower_with_state_runtime_and_readable_kwargs(
    system: System, flower: Flower
) -> None:
    wait_until(lambda: watching(flower, system), 20, "flower seeing the workers' task events")
    nodes = worker_nodes(system.workers[0])  # one per worker process
    jobs = [
        RecordStartJob(conference_id=unique(), format="wav", channels="dual"),
        RecordStartJob(conference_id=unique("board / Q4 #1 ?café "), format="mp3"),
        RecordStartJob(conference_id=unique(), format="wav", play_beep=True),
        RecordStartJob(conference_id=unique("missing-"), format="wav"),
    ]
    jobs = [job.with_command_id(f"cmd-{uuid.uuid4()}") for job in jobs]
    sent = {system.producer().enqueue(job).job_id: job for job in jobs}
    outcomes = system.outcomes(list(sent))
    status = {job_id: found[0].status for job_id, found in outcomes.items()}
    assert sorted(status.values()) == ["failed", "succeeded", "succeeded", "succeeded"]

    states = {job_id: STATES[found] for job_id, found in status.items()}
    wait_until(lambda: job_states(flower, list(sent)) == states, 15, "flower showing every job")
    tasks, rows = flower_tasks(flower), table_rows(flower)
    reason = {"succeeded": "ok (attempts 1)", "failed": MISSING}
    for job_id, job in sent.items():
        task = tasks[job_id]
        assert task["name"] == TASK_NAME
        assert task["worker"] in nodes
        if status[job_id] == "succeeded":
            assert isinstance(task["runtime"], float) and task["runtime"] > 0
            assert task["result"] == repr("ok (attempts 1)")
        else:  # the missing- conference: Telnyx's 404 (a task-failed event has no runtime)
            assert task["failed"] > task["started"]
            assert MISSING in task["exception"]
        kwargs = ast.literal_eval(task["kwargs"])  # readable: exactly the job's fields
        assert kwargs == job.task_kwargs()
        assert job.conference_id in task["kwargs"]
        assert f"'command_id': '{job.command_id}'" in task["kwargs"]
        # The table: the conference (args column) and the outcome's reason (Result).
        assert rows[job_id]["args"] == f"conference={job.conference_id}"
        assert rows[job_id]["result"] == reason[status[job_id]]


def test_a_rejected_job_is_a_failure_with_its_reason_and_still_one_outcome(
    system: System, flower: Flower
) -> None:
    """Raised after its outcome is published, ``JobFailed`` is acked like a return: the
    job is FAILURE in Flower, was sent to Telnyx once and has exactly one outcome."""
    wait_until(lambda: watching(flower, system), 20, "flower seeing the workers' task events")
    ended, live = unique("ended-"), unique()
    rejected, succeeded = system.enqueue([ended, live])
    outcomes = system.outcomes([rejected, succeeded])  # read until nothing can be redelivered
    assert [o.reason for o in outcomes[rejected]] == ["rejected"]
    assert [o.reason for o in outcomes[succeeded]] == ["ok"]
    expected = {rejected: "FAILURE", succeeded: "SUCCESS"}
    wait_until(lambda: job_states(flower, [rejected, succeeded]) == expected, 15, "flower states")
    task = flower_tasks(flower)[rejected]
    assert "rejected: 422 90019 Conference has already ended (attempts 1)" in task["exception"]
    assert "JobFailed" in task["exception"]
    assert task["traceback"] is None  # expected: its reason, no Python traceback
    assert flower_tasks(flower)[succeeded]["result"] == repr("ok (attempts 1)")
    assert len(system.sim_requests(ended)) == 1  # not redelivered: one request to Telnyx
    assert system.settled()


def test_api_key_appears_nowhere_flower_serves_or_logs(system: System, flower: Flower) -> None:
    nodes = worker_nodes(system.workers[0])
    system.outcome(
        system.producer().enqueue(RecordStartJob(conference_id=unique(), format="wav")).job_id
    )

    def workers_listed() -> bool:
        response = flower.get("/api/workers", refresh="1")
        return response.status_code == 200 and set(nodes) <= set(response.json())

    wait_until(workers_listed, 15, "flower listing the worker")
    wait_until(lambda: bool(flower_tasks(flower)), 15, "flower listing tasks")
    served = {
        "/api/workers": flower.get("/api/workers").text,
        "/api/tasks": flower.get("/api/tasks").text,
        "/metrics": flower.get("/metrics").text,
        "log": flower.proc.log(),
    }
    # The check below reads real content:
    assert all(node in served["/api/workers"] for node in nodes)
    assert TASK_NAME in served["/api/tasks"]
    for where, text in served.items():
        assert API_KEY not in text, where
    assert PASSWORD not in served["log"]


@pytest.mark.parametrize("path", ["/api/tasks", "/api/workers", "/"])
def test_flower_refuses_requests_without_the_right_credentials(flower: Flower, path: str) -> None:
    assert flower.get(path, auth=None).status_code == 401
    assert flower.get(path, auth=(USER, "wrong")).status_code == 401
    assert flower.get(path).status_code == 200  # control: the same request with auth


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "error: FLOWER_BASIC_AUTH is not set"),
        ("admin-no-password", "error: FLOWER_BASIC_AUTH must be user:password"),
        ("ops:pw,broken", "error: FLOWER_BASIC_AUTH must be user:password"),
    ],
)
def test_flower_will_not_start_without_basic_auth(system: System, value: str, message: str) -> None:
    result = system.cli("flower", "--port", str(free_port()), env={"FLOWER_BASIC_AUTH": value})
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    if value:
        assert value not in result.stderr
