"""``confrec serve`` as a process of a test's own: curl, the non-Python client, follows
jobs through real workers to their outcome; a serve refuses to start without tokens or
with a public key that is not one; /healthz follows its Redis and never shows the
password. A real service process on loopback, on its own queue and streams.

The module-wide serve and its requests: test_serve_requests.py (whose secrets check reads
the logs and bodies of these serves too).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from confrec.tasks.job import RecordStartJob, derived_command_id
from confrec.worker.local.processes import (
    CONFREC,
    ManagedProcess,
    free_port,
    start_redis,
)
from tests.support.serve import (
    BODIES,
    GOOD,
    TOKEN_A,
    Stack,
    dumps,
    running_stack,
    telnyx_errors,
)
from tests.support.system import unique_id
from tests.support.waiting import poll

# a non-Python client


def curl(url: str, *, body: object = None) -> tuple[int, Any]:
    argv = ["curl", "-sS", "--max-time", "10", "-w", "%{http_code}"]
    argv += ["-H", f"Authorization: Bearer {TOKEN_A}"]
    data = None
    if body is not None:
        data = dumps(body)
        argv += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    done = subprocess.run([*argv, url], input=data, capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    BODIES.append(done.stdout[:-3])
    return int(done.stdout[-3:]), json.loads(done.stdout[:-3])


def curl_status(root: str, job_id: str) -> dict[str, Any]:
    code, doc = curl(f"{root}/v1/jobs/{job_id}")
    assert code == 200, doc
    found: dict[str, Any] = doc
    return found


def finished_via_curl(root: str, job_id: str) -> dict[str, Any]:
    return poll(
        lambda: curl_status(root, job_id),
        lambda doc: doc["state"] == "finished",
        30,
        f"job {job_id} finished",
    )


@pytest.fixture
def curl_stack(
    redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path
) -> Iterator[Stack]:
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    with running_stack(workdir, redis_proc.extra["url"], simulator) as running:
        yield running


def test_curl_enqueues_follows_each_job_to_its_outcome(curl_stack: Stack) -> None:
    system, root = curl_stack.system, curl_stack.api.root
    code, one = curl(f"{root}/v1/jobs", body={"conference_id": unique_id(), "format": "mp3"})
    assert code == 202, one
    bulk = [{"conference_id": unique_id(), "format": fmt} for fmt in ("wav", "mp3", "wav")]
    key = f"batch-{uuid.uuid4().hex[:8]}"
    code, batch = curl(f"{root}/v1/jobs/bulk?batch_key={key}", body=bulk)
    assert code == 202, batch
    assert [j["conference_id"] for j in batch["jobs"]] == [b["conference_id"] for b in bulk]
    assert [j["command_id"] for j in batch["jobs"]] == [
        derived_command_id(key, RecordStartJob.model_validate(b)) for b in bulk
    ]
    accepted: list[dict[str, str]] = [one, *batch["jobs"]]
    job_ids = [a["job_id"] for a in accepted]
    assert len(set(job_ids)) == 4
    for job in accepted:  # no worker yet
        assert curl_status(root, job["job_id"]) == {
            **job,
            "state": "queued",
            "outcome": None,
            "labels": None,
            "recording_state": None,
            "recording_reason": None,
            "recordings": [],
            "other_recordings": [],
        }

    system.start_worker(f"curl-{uuid.uuid4().hex[:6]}", concurrency=4)
    for job in accepted:
        job_id = job["job_id"]
        doc = finished_via_curl(root, job_id)
        outcome = doc["outcome"]
        assert (outcome["status"], outcome["reason"]) == ("succeeded", "ok")
        assert (outcome["job_id"], outcome["command_id"]) == (job_id, job["command_id"])
        assert outcome.get("batch") == (None if job is one else batch["batch"])
        cli = system.cli("status", job_id, "--json")
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout) == doc

    unknown = system.cli("status", f"no-such-job-{uuid.uuid4().hex}", "--json")
    assert unknown.returncode == 5, unknown.stderr
    assert unknown.stdout == ""

    outcomes = system.outcomes(job_ids)
    assert {job_id: len(found) for job_id, found in outcomes.items()} == dict.fromkeys(job_ids, 1)
    rows: Any = system.state.xrange(system.settings.results_stream)
    assert sorted(fields["job_id"] for _, fields in rows) == sorted(job_ids)


# refusing to start


def run_serve_alone(redis_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``confrec serve`` with only these settings; a serve that starts is killed at 30 s."""
    base = {
        k: v for k, v in os.environ.items() if k not in ("CONFREC_API_TOKENS", "TELNYX_PUBLIC_KEY")
    }
    return subprocess.run(
        [*CONFREC, "serve", "--port", str(free_port())],
        env={**base, "CONFREC_BROKER_URL": redis_url, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_serve_refuses_to_start_without_tokens(redis_proc: ManagedProcess) -> None:
    done = run_serve_alone(redis_proc.extra["url"])
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "CONFREC_API_TOKENS" in line


@pytest.mark.parametrize(
    "public_key", ["not-a-key", base64.b64encode(b"k" * 31).decode()], ids=["text", "31-bytes"]
)
def test_serve_refuses_a_public_key_that_is_not_one(
    redis_proc: ManagedProcess, public_key: str
) -> None:
    done = run_serve_alone(
        redis_proc.extra["url"], CONFREC_API_TOKENS=TOKEN_A, TELNYX_PUBLIC_KEY=public_key
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "TELNYX_PUBLIC_KEY" in line


# health


def test_healthz_follows_redis_and_never_shows_its_password(
    simulator: ManagedProcess, workdir: Path, tmp_path: Path
) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    own_redis = start_redis(tmp_path / "redis", password=password)
    try:
        with running_stack(workdir, own_redis.extra["url"], simulator) as running:
            api = running.api
            healthy = api.send("GET", "/healthz", token=None)
            assert healthy.status_code == 200, healthy.text
            assert healthy.json() == {"status": "ok", "checks": {"broker": "ok", "redis": "ok"}}
            own_redis.stop()
            down = poll(
                lambda: api.send("GET", "/healthz", token=None),
                lambda r: r.status_code != 200,
                15,
                "healthz after redis stopped",
            )
            assert down.status_code == 503
            doc = down.json()
            assert doc["status"] == "unavailable"
            assert all(v.startswith("failed") for v in doc["checks"].values()), doc
            answers = [
                down,
                api.send("POST", "/v1/jobs", body=GOOD),
                api.send("POST", "/v1/jobs/bulk", body=[GOOD]),
                api.send("GET", f"/v1/jobs/{uuid.uuid4()}"),
            ]
            for answer in answers[1:]:
                telnyx_errors(answer, 503)
            assert all(password not in a.text for a in answers)
        log = running.serve.log()
        assert "redis://:**@127.0.0.1" in log  # the line that names the broker, masked
        assert password not in log
    finally:
        own_redis.stop()
