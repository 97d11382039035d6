"""A batch listing's pieces without Redis: which list a job's status puts it in, an item's
keys (every one present, as the OpenAPI models say), and ``confrec batch``'s lines."""

from __future__ import annotations

from typing import Any

from confrec.service.batch_schemas import Batch, BatchJob
from confrec.tasks.batch_listing import in_list, job_item
from confrec.tasks.job import Outcome
from confrec.tasks.status import JobStatus, RecordingView
from confrec.tasks.store.batches import BatchSummary
from confrec.tasks.store.keys import BATCH_LISTS
from confrec.worker.cli.batch import job_line


def _status(recording: RecordingView | None = None, **outcome: Any) -> JobStatus:
    fields = {"job_id": "j1", "conference_id": "c1", "command_id": "x"} | outcome
    return JobStatus(
        job_id="j1",
        conference_id="c1",
        command_id="x",
        state="finished",
        outcome=Outcome.model_validate(fields) if outcome else None,
        recording=recording or RecordingView(),
        labels={"meeting": "4711"},
    )


def test_a_status_is_in_the_lists_its_outcome_and_recording_say() -> None:
    rejected = _status(status="failed", reason="rejected", http_status=404)
    assert {n for n in BATCH_LISTS if in_list(rejected, n)} == {
        "all",
        "finished",
        "failed",
        "rejected",
    }
    lost = _status(RecordingView("not_saved", "listed none"), status="succeeded", reason="ok")
    assert {n for n in BATCH_LISTS if in_list(lost, n)} == {
        "all",
        "finished",
        "succeeded",
        "ok",
        "not_saved",
    }
    again = _status(status="succeeded", reason="ok", duplicate_of="j0")
    assert in_list(again, "already_done") and not in_list(lost, "already_done")


def test_an_item_has_every_key_of_its_model_even_when_nothing_is_known() -> None:
    gone = job_item("j9", 9, None)
    assert set(gone) == set(BatchJob.model_fields)
    assert gone["seq"] == 9 and gone["errors"] == [] and gone["state"] is None
    BatchJob.model_validate(gone)
    errors = [{"code": "90058", "title": "Invalid conference_id", "detail": "d"}]
    full = job_item("j1", 1, _status(status="failed", reason="rejected", errors=errors))
    assert BatchJob.model_validate(full).errors[0].code == "90058"
    summary = BatchSummary("b", "t", None, None, 0, {n: 0 for n in BATCH_LISTS if n != "all"})
    assert set(Batch.model_fields) <= set(summary.as_dict())


def test_lines_of_failed_and_not_saved_jobs() -> None:
    errors = [{"code": "90019", "title": "Conference has already ended"}]
    failed = job_item(
        "j1", 1, _status(status="failed", reason="rejected", http_status=422, errors=errors)
    )
    assert job_line(failed, "failed") == (
        "j1  'c1'  rejected  http=422  90019 Conference has already ended"
    )
    timed_out = job_item(
        "j2", 2, _status(status="failed", reason="retries_exhausted", detail="ReadTimeout")
    )
    assert job_line(timed_out, "failed").endswith("retries_exhausted  http=-  ReadTimeout")
    lost = job_item(
        "j3", 3, _status(RecordingView("not_saved", "listed none"), status="succeeded", reason="ok")
    )
    assert job_line(lost, "not_saved") == "j3  'c1'  not_saved  listed none"
