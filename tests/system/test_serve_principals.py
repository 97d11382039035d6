"""Tokens with identity, on a real ``confrec serve`` and a real worker: a token sees only
its own jobs (an operator every job), a named principal's batch keys are its own, a
duplicate of another principal's job hides that job's recording, tokens come and go with
the tokens file (on change, and on SIGHUP) without a restart, the per-principal enqueue
rate, and one log line per request that names the principal, never the token."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey

from confrec.tasks.job import RecordStartJob, derived_command_id
from confrec.tasks.store import keys
from confrec.worker.local.processes import ManagedProcess
from confrec.worker.producing import create_producer
from tests.support.hooks import Hooks, public_key, saved_event
from tests.support.serve import GOOD, OPERATOR_TOKEN, TOKEN_A, Stack, running_stack
from tests.support.system import unique_id
from tests.support.waiting import poll, wait_until

ALICE = f"alice-{uuid.uuid4().hex}"
BOB = f"bob-{uuid.uuid4().hex}"
CAROL = f"carol-{uuid.uuid4().hex}"
DAVE = f"dave-{uuid.uuid4().hex}"
DAVE_NEW = f"dave-{uuid.uuid4().hex}"  # the same length: a rewrite stat cannot tell
SECRETS = (ALICE, BOB, CAROL, DAVE, DAVE_NEW, OPERATOR_TOKEN, TOKEN_A)


@pytest.fixture(scope="module")
def tokens_file(workdir: Path) -> Path:
    path = workdir / f"tokens-{uuid.uuid4().hex[:8]}"
    path.write_text(f"# the reporting team\ncarol:{CAROL}\n")
    return path


@pytest.fixture(scope="module")
def hooks(
    redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path, tokens_file: Path
) -> Iterator[Hooks]:
    """A serve with named, operator and unnamed tokens and a tokens file; one worker."""
    key = SigningKey.generate()
    with running_stack(
        workdir,
        redis_proc.extra["url"],
        simulator,
        TELNYX_PUBLIC_KEY=public_key(key),
        CONFREC_API_TOKENS=f"alice:{ALICE},bob:{BOB},ops+operator:{OPERATOR_TOKEN},{TOKEN_A}",
        CONFREC_API_TOKENS_FILE=str(tokens_file),
    ) as stack:
        stack.system.start_worker(f"principals-{uuid.uuid4().hex[:6]}", concurrency=4)
        yield Hooks(stack, key)


def send(stack: Stack, token: str, method: str, path: str, body: object = None) -> httpx.Response:
    return stack.api.send(method, path, token=token, body=body)


def enqueue(stack: Stack, token: str, job: dict[str, Any]) -> dict[str, str]:
    answer = send(stack, token, "POST", "/v1/jobs", job)
    assert answer.status_code == 202, answer.text
    accepted: dict[str, str] = answer.json()
    return accepted


def status(stack: Stack, token: str, job_id: str) -> httpx.Response:
    return send(stack, token, "GET", f"/v1/jobs/{job_id}")


def finished(stack: Stack, token: str, job_id: str) -> dict[str, Any]:
    return poll(
        lambda: status(stack, token, job_id).json(),
        lambda doc: doc["state"] == "finished",
        30,
        f"job {job_id} finished",
    )


def not_found(answer: httpx.Response, job_id: str) -> None:
    """The very 404 an unknown job gets: whether the job exists does not leak."""
    assert answer.status_code == 404, answer.text
    assert answer.json() == {
        "errors": [{"code": "10007", "title": "Resource not found", "detail": f"no job {job_id}"}]
    }


def test_a_token_sees_only_its_own_jobs_and_an_operator_every_job(hooks: Hooks) -> None:
    stack = hooks.stack
    alices = enqueue(stack, ALICE, {**GOOD, "conference_id": unique_id()})["job_id"]
    cli_job = create_producer(stack.system.settings).enqueue(
        RecordStartJob(conference_id=unique_id(), format="wav")
    )
    assert status(stack, ALICE, alices).status_code == 200
    for token in (BOB, TOKEN_A, CAROL):
        not_found(status(stack, token, alices), alices)
        not_found(status(stack, token, cli_job.job_id), cli_job.job_id)
    not_found(status(stack, BOB, "no-such-job"), "no-such-job")
    for job_id in (alices, cli_job.job_id):
        assert status(stack, OPERATOR_TOKEN, job_id).json()["job_id"] == job_id


def test_every_job_records_who_enqueued_it(hooks: Hooks) -> None:
    stack = hooks.stack
    job = {**GOOD, "conference_id": unique_id()}
    by = {
        name: enqueue(stack, token, job)["job_id"]
        for name, token in (("alice", ALICE), ("a", TOKEN_A))
    }
    by["cli"] = (
        create_producer(stack.system.settings).enqueue(RecordStartJob.model_validate(job)).job_id
    )
    found = {
        name: stack.system.state.hget(keys.job_state(j), "principal") for name, j in by.items()
    }
    assert found["alice"] == "alice"
    assert str(found["a"]).startswith("sha256:") and TOKEN_A not in str(found["a"])
    assert found["cli"] is None


def test_a_named_principals_batch_keys_are_its_own(hooks: Hooks) -> None:
    stack = hooks.stack
    bulk = [{"conference_id": unique_id(), "format": "wav"} for _ in range(2)]
    key = f"2026-12-07-{uuid.uuid4().hex[:6]}"  # a guessable key, as the README's

    def command_ids(token: str) -> list[str]:
        answer = send(stack, token, "POST", f"/v1/jobs/bulk?batch_key={key}", bulk)
        assert answer.status_code == 202, answer.text
        return [job["command_id"] for job in answer.json()["jobs"]]

    alice, bob, unnamed = command_ids(ALICE), command_ids(BOB), command_ids(TOKEN_A)
    assert not set(alice) & set(bob)
    assert command_ids(ALICE) == alice  # re-sending is still safe
    # An unnamed token derives as before principals (and as `confrec bulk --batch-key`).
    assert unnamed == [derived_command_id(key, RecordStartJob.model_validate(b)) for b in bulk]
    assert not set(unnamed) & set(alice)


def test_a_duplicate_of_another_principals_job_never_shows_its_recording(hooks: Hooks) -> None:
    stack = hooks.stack
    job = {"conference_id": unique_id(), "format": "wav", "command_id": str(uuid.uuid4())}
    original = enqueue(stack, ALICE, job)["job_id"]
    outcome = finished(stack, ALICE, original)["outcome"]
    data = saved_event(job["conference_id"], started_at=outcome["finished_at"])
    assert hooks.deliver(data).status_code == 200
    recording = data["payload"]["recording_id"]

    def recordings(token: str, job_id: str) -> list[str]:
        return [r["recording_id"] for r in status(stack, token, job_id).json()["recordings"]]

    assert recordings(ALICE, original) == [recording]
    bobs = enqueue(stack, BOB, job)["job_id"]  # a guessed command_id: Telnyx would ignore it
    done = finished(stack, BOB, bobs)
    assert done["outcome"]["duplicate_of"] == original
    assert (done["recordings"], done["other_recordings"]) == ([], [])
    assert done["recording_state"] == "unknown"
    assert recordings(OPERATOR_TOKEN, bobs) == [recording]  # the operator sees everything
    again = enqueue(stack, ALICE, job)["job_id"]  # her own duplicate shows her recording
    mine = finished(stack, ALICE, again)
    # Its outcome names the job that last succeeded with the command (bob's, itself a
    # duplicate): the status follows it to the job that started the recording, hers.
    assert mine["outcome"]["duplicate_of"] in {original, bobs}, mine
    assert [r["recording_id"] for r in mine["recordings"]] == [recording], mine


def test_tokens_come_and_go_with_the_file_without_a_restart(
    hooks: Hooks, tokens_file: Path
) -> None:
    stack = hooks.stack
    job_id = enqueue(stack, CAROL, {**GOOD, "conference_id": unique_id()})["job_id"]
    assert send(stack, DAVE, "GET", f"/v1/jobs/{job_id}").status_code == 401
    tokens_file.write_text(f"carol:{CAROL}\ndave+operator:{DAVE}\n")
    poll(lambda: status(stack, DAVE, job_id), lambda r: r.status_code == 200, 10, "dave added")
    tokens_file.write_text(f"dave+operator:{DAVE}\n")
    poll(lambda: status(stack, CAROL, job_id), lambda r: r.status_code == 401, 10, "carol gone")

    # A change stat cannot see (same size, mtime and inode): SIGHUP re-reads the file.
    before = tokens_file.stat()
    tokens_file.write_text(f"dave+operator:{DAVE_NEW}\n")
    os.utime(tokens_file, ns=(before.st_atime_ns, before.st_mtime_ns))
    stack.serve.signal(signal.SIGHUP)
    poll(lambda: status(stack, DAVE_NEW, job_id), lambda r: r.status_code == 200, 10, "SIGHUP")
    assert status(stack, DAVE, job_id).status_code == 401
    assert stack.serve.alive()


def test_one_log_line_per_request_names_the_principal_never_the_token(hooks: Hooks) -> None:
    stack = hooks.stack
    enqueue(stack, ALICE, {**GOOD, "conference_id": unique_id()})
    bulk = [{"conference_id": unique_id(), "format": "mp3"} for _ in range(3)]
    assert send(stack, BOB, "POST", "/v1/jobs/bulk", bulk).status_code == 202
    assert send(stack, f"{ALICE}x", "GET", "/v1/jobs/x").status_code == 401
    wanted = [
        "principal=alice method=POST route=/v1/jobs status=202 jobs=1 ",
        "principal=bob method=POST route=/v1/jobs/bulk status=202 jobs=3 ",
        "principal=- method=GET route=/v1/jobs/{job_id} status=401 jobs=0 ",
    ]
    wait_until(lambda: all(w in stack.serve.log() for w in wanted), 10, "the request lines")
    log = stack.serve.log()
    for secret in SECRETS:
        assert secret not in log


def test_each_principal_has_its_own_enqueue_rate(
    redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path
) -> None:
    tag = uuid.uuid4().hex[:6]  # buckets of its own: the Redis is the session's
    with running_stack(
        workdir,
        redis_proc.extra["url"],
        simulator,
        CONFREC_API_TOKENS=f"rate-a-{tag}:{ALICE},rate-b-{tag}:{BOB}",
        CONFREC_API_RATE_LIMIT="1",
        CONFREC_API_RATE_BURST="2",
    ) as stack:
        two = [{**GOOD, "conference_id": unique_id()} for _ in range(2)]
        assert send(stack, ALICE, "POST", "/v1/jobs/bulk", two).status_code == 202
        refused = send(stack, ALICE, "POST", "/v1/jobs", GOOD)
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 2
        assert refused.json()["errors"][0]["code"] == "10011"
        assert stack.queue_length() == 2  # nothing enqueued by the refused request
        assert send(stack, BOB, "POST", "/v1/jobs", GOOD).status_code == 202  # his own
        # A bulk over the burst goes once the bucket is full, and the rate holds after it.
        five = [{**GOOD, "conference_id": unique_id()} for _ in range(5)]
        poll(
            lambda: send(stack, ALICE, "POST", "/v1/jobs/bulk", five),
            lambda r: r.status_code == 202,
            10,
            "alice's bucket refilled",
            interval=0.2,
        )
        after = send(stack, ALICE, "POST", "/v1/jobs", GOOD)
        assert after.status_code == 429 and int(after.headers["Retry-After"]) >= 3
        assert stack.queue_length() == 8
