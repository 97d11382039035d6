"""``POST /v1/batches/{id}/retry`` and ``confrec batch retry`` on a running stack (serve, a
worker, the simulator): only a job whose every attempt was answered 503 is sent again, as
a new job of a new batch with the same command_id, and only once; every other failed job
is listed with the reason."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from confrec.tasks.store.batches import BatchStore
from confrec.tasks.store.conferences import ConferenceStore
from confrec.worker.local.processes import ManagedProcess
from tests.support.serve import TOKEN_A, TOKEN_B, Stack, running_stack


@pytest.fixture(scope="module")
def stack(redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path) -> Iterator[Stack]:
    with running_stack(workdir, redis_proc.extra["url"], simulator) as running:
        running.system.start_worker(f"retry-{uuid.uuid4().hex[:6]}", concurrency=8)
        yield running


def _bulk(stack: Stack, conferences: list[str]) -> tuple[str, list[str]]:
    jobs = [
        {"conference_id": c, "format": "wav", "labels": {"n": str(i)}}
        for i, c in enumerate(conferences)
    ]
    answer = stack.api.send("POST", "/v1/jobs/bulk", body=jobs)
    assert answer.status_code == 202, answer.text
    return answer.json()["batch"], [job["job_id"] for job in answer.json()["jobs"]]


def _retry(stack: Stack, batch: str, token: str = TOKEN_A) -> dict[str, Any]:
    answer = stack.api.send("POST", f"/v1/batches/{batch}/retry", token=token)
    assert answer.status_code == 202, answer.text
    doc: dict[str, Any] = answer.json()
    return doc


def _cli(stack: Stack, batch: str) -> subprocess.CompletedProcess[str]:
    return stack.system.cli("batch", "retry", batch, "--json", timeout=60)


def test_only_jobs_that_certainly_started_nothing_are_sent_again_once(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    # Four 503s exhaust the worker's four attempts; the fifth request (the retry) is served.
    safe, cut, refused, ended, fine = (
        f"flaky-4-{tag}-safe",
        f"flaky-1-drop-9-{tag}",  # a 503, then connections cut after the request went out
        f"missing-{tag}",
        f"flaky-9-{tag}-ended",
        f"conf-{tag}",
    )
    batch, ids = _bulk(stack, [safe, cut, refused, ended, fine])
    cli_batch, (cli_job,) = _bulk(stack, [f"flaky-4-{tag}-cli"])
    for job_id in [*ids, cli_job]:
        stack.api.finished(job_id, timeout=30)
    conferences = ConferenceStore(stack.system.state, stack.recordings_stream)
    conferences.store_ended(ended, reason="host_left", source="webhook", occurred_at=None)

    other = stack.api.send("POST", f"/v1/batches/{batch}/retry", token=TOKEN_B)
    assert other.status_code == 404, other.text  # not the caller's: as if unknown

    first = _retry(stack, batch)
    assert [r["job_id"] for r in first["retried"]] == [ids[0]]
    assert {u["job_id"]: u["reason"] for u in first["uncertain"]} == {
        ids[1]: "attempt_uncertain",
        ids[2]: "not_retries_exhausted",
        ids[3]: "conference_ended",
    }
    new_job = first["retried"][0]["new_job_id"]
    redone = stack.api.finished(new_job, timeout=30)
    old = stack.api.status(ids[0])
    assert redone["outcome"]["status"] == "succeeded", redone
    assert redone["outcome"]["retry_of"] == ids[0]
    assert redone["outcome"]["labels"] == {"n": "0"}
    assert redone["command_id"] == old["command_id"]  # nothing started: the same one is safe

    second = _retry(stack, batch)
    assert second["retry_batch"] is None and second["retried"] == []
    assert {"job_id": ids[0], "reason": "already_retried"} in second["uncertain"]
    store = BatchStore(stack.system.state)
    summary, retry = store.summary(batch), store.summary(first["retry_batch"])
    assert summary is not None and summary.as_dict()["retries"] == [first["retry_batch"]]
    assert retry is not None and retry.as_dict()["retry_of"] == batch and retry.total == 1

    ran = _cli(stack, cli_batch)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert [r["job_id"] for r in report["retried"]] == [cli_job] and report["uncertain"] == []
    assert (
        stack.api.finished(report["retried"][0]["new_job_id"])["outcome"]["status"] == "succeeded"
    )
    unknown = _cli(stack, f"no-such-{tag}")
    assert unknown.returncode == 5 and f"no batch no-such-{tag}" in unknown.stderr
