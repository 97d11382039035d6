"""Reconciliation with real processes: a private Redis, the simulator sending NO webhooks
(every saved webhook is lost), and real ``confrec worker`` processes whose reconciler
thread asks the simulator instead. Short grace and polls, so a test takes seconds."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from confrec.tasks.status import JobStatus, job_status
from confrec.tasks.store import keys
from confrec.tasks.store.reconcile_budget import RECONCILE_CALLS
from confrec.tasks.store.schedule import conference_member
from confrec.worker.producing import create_conferences, create_ledger
from tests.support.system import System, own_fleet
from tests.support.waiting import poll, wait_until

RECONCILE_FAST = {
    "CONFREC_RECORDING_GRACE_S": "1",
    "CONFREC_RECONCILE_POLL_S": "0.5",
    "CONFREC_RECONCILE_LEASE_S": "6",
    "CONFREC_RECONCILE_RATE": "50",
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[System]:
    """A Redis and a simulator of this test's own (see ``own_fleet``)."""
    with own_fleet(tmp_path, **RECONCILE_FAST) as system:
        yield system


def status(system: System, job_id: str) -> JobStatus:
    settings = system.settings
    found = job_status(
        create_ledger(settings, system.state), create_conferences(settings, system.state), job_id
    )
    assert found is not None
    return found


def wait_for_state(system: System, job_id: str, state: str, timeout: float = 30) -> JobStatus:
    try:
        return poll(
            lambda: status(system, job_id),
            lambda found: found.recording.state == state,
            timeout,
            f"job {job_id}'s recording state {state}",
        )
    except AssertionError as exc:
        logs = "\n".join(w.log()[-2000:] for w in system.workers)
        raise AssertionError(f"{exc}\n{logs}") from None


def end_conference(system: System, conference_id: str) -> None:
    answer = httpx.post(f"{system.sim_root}/_sim/conferences/{conference_id}/end", timeout=5)
    assert answer.status_code == 200, answer.text


def test_a_lost_webhook_is_reconciled(stack: System) -> None:
    stack.start_worker("w1")
    conference_id = str(uuid.uuid4())
    (job_id,) = stack.enqueue([conference_id])
    assert stack.outcome(job_id).status == "succeeded"
    assert status(stack, job_id).recording.state == "pending"
    end_conference(stack, conference_id)
    found = wait_for_state(stack, job_id, "saved")
    (rec,) = found.recording.recordings
    assert rec["conference_id"] == conference_id
    assert rec["source"] == "reconciliation"
    assert next(iter(rec)) == "recording_id"
    facts = create_conferences(stack.settings, stack.state).facts(conference_id)
    assert facts.final_at is not None and facts.ended_at is not None
    assert stack.state.zscore(keys.RECONCILE_DUE, conference_member(conference_id)) is None


def test_a_conference_with_no_recording_ends_not_saved_and_a_name_resolves(
    stack: System,
) -> None:
    """Addressed by name (the simulator gives it an id); Telnyx loses the recording."""
    stack.start_worker("w1")
    name = f"unsaved-1-endafter-2-room-{uuid.uuid4().hex[:8]}"
    (job_id,) = stack.enqueue([name])
    assert stack.outcome(job_id).status == "succeeded"
    found = wait_for_state(stack, job_id, "not_saved")
    assert found.recording.recordings == []
    record = create_ledger(stack.settings, stack.state).record(job_id)
    assert record is not None and record.name_state == "resolved"
    (conference,) = [c for c in stack.sim("/_sim/conferences") if c.get("name") == name]
    assert record.resolved_id == conference["id"]


def test_the_schedule_survives_every_worker_being_down_across_its_due_time(
    stack: System,
) -> None:
    worker = stack.start_worker("w1")
    conference_id = str(uuid.uuid4())
    (job_id,) = stack.enqueue([conference_id])
    assert stack.outcome(job_id).status == "succeeded"
    worker.stop()
    end_conference(stack, conference_id)
    member = conference_member(conference_id)
    due = stack.state.zscore(keys.RECONCILE_DUE, member)
    assert due is not None
    # past the due time and a grace's worth, nobody up
    wait_until(lambda: time.time() > due + 1.5, 10, "the due time passing with no worker")
    assert status(stack, job_id).recording.state == "pending"
    assert stack.state.zscore(keys.RECONCILE_DUE, member) == due  # untouched while down
    stack.start_worker("w2")
    found = wait_for_state(stack, job_id, "saved")
    assert found.recording.recordings[0]["source"] == "reconciliation"


def test_a_reconciler_killed_mid_run_loses_and_duplicates_nothing(stack: System) -> None:
    """SIGKILL the worker while its reconciler works through conferences at a slow
    rate; a new worker takes over after the leases end: every job saved, each recording
    stored and streamed once."""
    slow = {"CONFREC_RECONCILE_RATE": "4", "CONFREC_RECONCILE_LEASE_S": "3"}
    first = stack.start_worker("w1", env=slow)
    conferences = [str(uuid.uuid4()) for _ in range(10)]
    job_ids = stack.enqueue(conferences)
    for job_id in job_ids:
        assert stack.outcome(job_id).status == "succeeded"
    for conference_id in conferences:
        end_conference(stack, conference_id)
    wait_until(
        lambda: int(stack.state.hget(RECONCILE_CALLS, "attempts") or 0) >= 14,
        30,
        "the reconciler mid-run (14 calls sent)",
        interval=0.02,
    )
    first.signal(signal.SIGKILL)
    first.popen.wait(10)
    saved_before = sum(status(stack, j).recording.state == "saved" for j in job_ids)
    assert saved_before < len(job_ids), "the run was over before the kill"
    stack.start_worker("w2", env=slow)
    for job_id in job_ids:
        found = wait_for_state(stack, job_id, "saved", timeout=60)
        assert len(found.recording.recordings) == 1
    stream: Any = stack.state.xrange(stack.settings.recordings_stream)
    ids = [fields["recording_id"] for _, fields in stream]
    assert len(stream) == len(conferences) and len(set(ids)) == len(conferences)
    for conference_id in conferences:
        assert stack.state.hlen(keys.conference_recordings(conference_id)) == 1
