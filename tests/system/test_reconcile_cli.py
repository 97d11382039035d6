"""``confrec reconcile`` as a user runs it: the workers are down (no reconciler thread),
Telnyx's webhooks never came, and the command asks Telnyx itself."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from confrec.worker.exitcodes import ExitCode
from tests.support.system import API_KEY, System, own_fleet
from tests.support.waiting import poll


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with own_fleet(
        tmp_path_factory.mktemp("reconcile-cli"),
        CONFREC_RECORDING_GRACE_S="2",
        CONFREC_RECONCILE_POLL_S="3600",  # the workers' thread never gets to it first
    ) as system:
        yield system


def started(system: System, conference_ids: list[str]) -> list[str]:
    worker = system.start_worker(f"w{uuid.uuid4().hex[:6]}")
    job_ids = system.enqueue(conference_ids)
    for job_id in job_ids:
        assert system.outcome(job_id).status == "succeeded"
    worker.stop()
    return job_ids


def end(system: System, conference_id: str) -> None:
    answer = httpx.post(f"{system.sim_root}/_sim/conferences/{conference_id}/end", timeout=5)
    assert answer.status_code == 200, answer.text


def test_reconcile_a_job_stores_what_telnyx_lists(stack: System) -> None:
    conference_id = str(uuid.uuid4())
    (job_id,) = started(stack, [conference_id])
    end(stack, conference_id)
    run = stack.cli("reconcile", "--job", job_id, "--json")
    assert run.returncode == 0, run.stderr
    (line,) = run.stdout.splitlines()
    doc = json.loads(line)
    assert doc["job_id"] == job_id
    assert doc["recording_state"] == "saved"
    assert doc["recordings"][0]["source"] == "reconciliation"
    assert doc["reconciled"] == {"ended": True, "listed": 1, "stored": 1, "final": False}
    again = stack.cli("reconcile", "--job", job_id)  # nothing new: stored once
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"{job_id} saved")
    assert API_KEY not in run.stdout + run.stderr + again.stdout + again.stderr


def test_not_saved_only_past_the_grace_and_a_name_resolved(stack: System) -> None:
    name = f"unsaved-1-room-{uuid.uuid4().hex[:8]}"
    (job_id,) = started(stack, [name])
    (conference,) = [c for c in stack.sim("/_sim/conferences") if c.get("name") == name]
    end(stack, conference["id"])
    first = stack.cli("reconcile", "--job", job_id, "--json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["recording_state"] == "pending"  # ended, grace not passed: never not_saved yet
    assert doc["reconciled_conference"] == conference["id"]

    def reconciled() -> list[dict[str, Any]]:
        later = stack.cli("reconcile", "--since", str(int(time.time()) - 300), "--json")
        assert later.returncode == 0, later.stderr
        return [json.loads(x) for x in later.stdout.splitlines() if job_id in x]

    mine = poll(
        reconciled,
        lambda found: bool(found) and found[0]["recording_state"] == "not_saved",
        20,
        "confrec reconcile saying not_saved past the grace",
        interval=0.5,
    )
    assert mine[0]["recordings"] == []


def test_reconcile_answers_a_user_mistake_in_one_line(stack: System) -> None:
    both = stack.cli("reconcile", "--job", "a", "--batch", "b")
    assert both.returncode == ExitCode.INVALID
    assert both.stderr.strip() == "error: give exactly one of --batch, --job, --since"
    unknown = stack.cli("reconcile", "--job", "no-such-job")
    assert unknown.returncode == ExitCode.UNKNOWN_JOB
    assert len(unknown.stderr.strip().splitlines()) == 1
    for bad in ("last tuesday", "inf", "nan", "-5", "1e30"):
        since = stack.cli("reconcile", f"--since={bad}")
        assert since.returncode == ExitCode.INVALID, since.stderr
        (line,) = since.stderr.strip().splitlines()
        assert line.startswith("error: --since: ")
    nokey = stack.cli("reconcile", "--job", "a", env={"TELNYX_API_KEY": ""})
    assert nokey.returncode == ExitCode.INVALID and "TELNYX_API_KEY" in nokey.stderr
    nobatch = stack.cli("reconcile", "--batch", "no-such-batch")
    assert nobatch.returncode == ExitCode.UNKNOWN_JOB


def test_telnyx_down_is_one_line_per_conference_and_exit_10(stack: System) -> None:
    conference_id = str(uuid.uuid4())
    (job_id,) = started(stack, [conference_id])
    dead = stack.cli("reconcile", "--job", job_id, env={"TELNYX_BASE_URL": "http://127.0.0.1:9/v2"})
    assert dead.returncode == ExitCode.RECONCILE_FAILED
    assert dead.stderr.strip() == (
        f"error: conference {conference_id}: no answer from Telnyx (ConnectError)"
    )
    assert dead.stdout.startswith(f"{job_id} pending")
    assert "Traceback" not in dead.stderr
