"""How ``confrec flower`` shows a job (``confrec.worker.flower_tasks``), and the task's
request class that keeps an expected failure's traceback out of monitors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kombu.utils.imports import symbol_by_name

from confrec.tasks.job import TASK_NAME
from confrec.worker.flower_tasks import conference_of, format_job, reason_text
from confrec.worker.task import RecordStartTask
from confrec.worker.task_request import ExpectedFailureRequest


@pytest.mark.parametrize(
    ("kwargs_repr", "conference"),
    [
        ("{'conference_id': 'board / Q4 #1 ?café', 'format': 'wav'}", "board / Q4 #1 ?café"),
        ("{'format': 'wav', 'conference_id': \"it's\"}", "it's"),
        ("{'conference_id': 'c-1', 'custom_file_name': '" + "x" * 1100 + "...", "c-1"),  # cut
        ("{'format': 'wav'}", None),
        ("{'conference_id': 7}", None),
        ("not a repr", None),
        ("", None),
        (None, None),
    ],
)
def test_the_conference_is_read_from_the_kwargs_flower_holds(
    kwargs_repr: str | None, conference: str | None
) -> None:
    assert conference_of(kwargs_repr) == conference


def test_the_result_column_starts_with_the_reason() -> None:
    assert reason_text("SUCCESS", "'ok (attempts 1)'", None) == "ok (attempts 1)"
    failed = "JobFailed('rejected: 422 90019 Conference has already ended (attempts 1)')"
    assert reason_text("FAILURE", None, failed) == (
        "rejected: 422 90019 Conference has already ended (attempts 1)"
    )
    assert reason_text("FAILURE", None, "RuntimeError('boom')") is None  # not ours: as it is
    assert reason_text("STARTED", None, None) is None


def _task(**fields: object) -> SimpleNamespace:
    base = {"name": TASK_NAME, "args": "()", "kwargs": "{'conference_id': 'c-9'}"}
    unset = {"state": "SUCCESS", "result": None, "exception": None}
    return SimpleNamespace(**unset | base | fields)


def test_a_job_shows_its_conference_and_reason_and_other_tasks_are_left_alone() -> None:
    shown = format_job(_task(result="'ok (attempts 2)'"))
    assert (shown.args, shown.result) == ("conference=c-9", "ok (attempts 2)")
    running = format_job(_task(state="STARTED"))
    assert (running.args, running.result) == ("conference=c-9", None)
    other = format_job(_task(name="other.task", result="'x'"))
    assert (other.args, other.result) == ("()", "'x'")
    given = format_job(_task(args="[1]"))  # a message with args keeps them (it is invalid)
    assert given.args == "[1]"


def test_the_task_runs_its_requests_through_the_quiet_failure_request() -> None:
    assert symbol_by_name(RecordStartTask.Request) is ExpectedFailureRequest
