"""``confrec recordings download`` end to end: real Redis, ``confrec serve``, a worker, the
real ``confrec simulate`` (its file links expire after 2 s) and the real CLI. The links a
job's status stored are dead by the time it runs; it downloads every file anyway, with
fresh links, byte for byte, and a second run finds them there."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from confrec.worker.downloads.naming import safe_component
from confrec.worker.exitcodes import ExitCode
from confrec.worker.local.processes import ManagedProcess, free_port
from tests.support.hooks import public_key
from tests.support.recordings import signing_simulator
from tests.support.serve import Stack, running_stack
from tests.support.system import API_KEY
from tests.support.waiting import poll, wait_until

LINK_EXPIRES_S = 2


@pytest.fixture(scope="module")
def saved(redis_proc: ManagedProcess, workdir: Path) -> Iterator[tuple[Stack, str, list[str]]]:
    """A batch of two jobs (wav, mp3) whose recordings are saved and whose stored links
    have expired: (the stack, the batch id, the job ids)."""
    port = free_port()
    workdir_sim = workdir / f"sim-downloads-{uuid.uuid4().hex[:6]}"
    sim, signing = signing_simulator(workdir_sim, port, "--link-expires-s", str(LINK_EXPIRES_S))
    key = public_key(signing)
    try:
        with running_stack(
            workdir, redis_proc.extra["url"], sim, port=port, TELNYX_PUBLIC_KEY=key
        ) as stack:
            stack.system.start_worker(f"dl-{uuid.uuid4().hex[:6]}", concurrency=4)
            jobs = [{"conference_id": str(uuid.uuid4()), "format": fmt} for fmt in ("wav", "mp3")]
            answer = stack.api.send("POST", "/v1/jobs/bulk", body=jobs)
            assert answer.status_code == 202, answer.text
            job_ids = [job["job_id"] for job in answer.json()["jobs"]]
            records = [saved_status(stack, job_id)["recordings"][0] for job_id in job_ids]
            # A link seen dead already is left out of the status: the wait is for the rest.
            assert all(r["recording_urls"] or r.get("links_expired") for r in records)
            links = [url for r in records for url in r["recording_urls"].values()]
            wait_until(
                lambda: all(link_dead(url) for url in links),
                LINK_EXPIRES_S + 10,
                "the stored links expired",
            )
            yield stack, answer.json()["batch"], job_ids
    finally:
        sim.stop()


def link_dead(url: str) -> bool:
    return httpx.get(url, timeout=5).status_code == 403


def saved_status(stack: Stack, job_id: str) -> dict[str, Any]:
    return poll(
        lambda: stack.api.status(job_id),
        lambda doc: doc.get("recording_state") == "saved",
        30,
        f"job {job_id}'s recording saved",
    )


def expected_files(stack: Stack, job_ids: list[str], dest: Path) -> dict[Path, bytes]:
    """Each job's recording as the simulator serves it (its public link never expires)."""
    files = {}
    for job_id in job_ids:
        status = stack.api.status(job_id)
        record = status["recordings"][0]
        name = f"{record['recording_id']}.{record['format']}"
        public = f"{stack.system.sim_root}/_sim/files/public/{name}"
        body = httpx.get(public, timeout=5).content
        assert len(body) > 1000
        files[dest / safe_component(status["conference_id"]) / name] = body
    return files


def no_secrets(text: str) -> None:
    assert API_KEY not in text
    assert "X-Amz" not in text and "Traceback" not in text


def test_a_batch_is_downloaded_after_its_links_expired_and_found_there_again(
    saved: tuple[Stack, str, list[str]], tmp_path: Path
) -> None:
    stack, batch, job_ids = saved
    dest = tmp_path / "out"
    run = stack.system.cli("recordings", "download", "--batch", batch, str(dest))
    no_secrets(run.stdout + run.stderr)
    assert run.returncode == ExitCode.OK, run.stderr
    files = expected_files(stack, job_ids, dest)
    for path, body in files.items():
        assert path.read_bytes() == body
    assert sorted(p for p in dest.rglob("*") if p.is_file()) == sorted(files)  # no .part left
    assert run.stdout.splitlines()[-1].startswith("downloaded 2 (")
    assert f"already there 0, failed 0 of 2 recordings in {dest}" in run.stdout

    again = stack.system.cli("recordings", "download", "--job", job_ids[0], str(dest), "--json")
    assert again.returncode == ExitCode.OK, again.stderr
    report = json.loads(again.stdout)
    assert report["downloaded"] == [] and report["failed"] == []
    assert [s["job_id"] for s in report["skipped"]] == [job_ids[0]]


def test_a_part_left_behind_is_resumed(saved: tuple[Stack, str, list[str]], tmp_path: Path) -> None:
    stack, _, job_ids = saved
    dest = tmp_path / "out"
    ((final, body),) = expected_files(stack, job_ids[:1], dest).items()
    final.parent.mkdir(parents=True)
    part = final.with_name(f".{final.name}.part")
    part.write_bytes(body[:1000])
    run = stack.system.cli("recordings", "download", "--job", job_ids[0], str(dest))
    assert run.returncode == ExitCode.OK, run.stderr
    assert final.read_bytes() == body and not part.exists()


def test_when_telnyx_cannot_be_reached_each_recording_fails_in_one_line(
    saved: tuple[Stack, str, list[str]], tmp_path: Path
) -> None:
    stack, batch, _ = saved
    dest = tmp_path / "out"
    env = {"TELNYX_BASE_URL": f"http://127.0.0.1:{free_port()}/v2"}
    run = stack.system.cli("recordings", "download", "--batch", batch, str(dest), env=env)
    no_secrets(run.stdout + run.stderr)
    assert run.returncode == ExitCode.DOWNLOAD_FAILED
    failures = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(failures) == 2
    assert all("no link from Telnyx after 4 tries: ConnectError" in f for f in failures)
    assert "failed 2 of 2 recordings" in run.stdout
    assert not [p for p in dest.rglob("*") if p.is_file() and not p.name.endswith(".part")]


def test_an_unknown_job_or_batch_is_exit_5(
    saved: tuple[Stack, str, list[str]], tmp_path: Path
) -> None:
    stack, _, _ = saved
    for option in ("--job", "--batch"):
        run = stack.system.cli("recordings", "download", option, "nope", str(tmp_path))
        assert run.returncode == ExitCode.UNKNOWN_JOB, run.stderr
        assert run.stderr.startswith("error: no ")
