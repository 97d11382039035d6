"""``confrec bulk`` tells what happened (issue 22, item 3), on real workers and the
simulator: the batch id and how to follow it on stderr at once and again on Ctrl-C (exit
130); each failed row with its line, conference, reason, Telnyx code and title, in text and
``--json``; a safe re-run's rows counted apart as "already done"; a quiet batch says what
it waits for; ``confrec results`` lines carry the job id."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from confrec.tasks.store.batches import BatchStore
from confrec.worker.local.processes import CONFREC
from tests.support.system import System, unique
from tests.support.waiting import poll, wait_until

FOLLOW = re.compile(r"^batch ([0-9a-f-]{36}): follow it with `confrec batch \1`$", re.MULTILINE)


def write_jsonl(path: Path, rows: list[dict[str, object] | None]) -> Path:
    """One row a line; None: a blank line (skipped, but it counts as a line)."""
    path.write_text("".join((json.dumps(r) if r else "") + "\n" for r in rows))
    return path


@contextlib.contextmanager
def running(
    system: System, tmp_path: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``confrec ARGS`` in the background, its stderr in a file read as it grows; killed
    at the end if it is still running."""
    err = tmp_path / "stderr.txt"
    with err.open("wb") as sink:
        proc = subprocess.Popen(
            [*CONFREC, *args],
            env={**os.environ, **system.env},
            stdout=subprocess.DEVNULL,
            stderr=sink,
            start_new_session=True,
        )
    try:
        yield proc, err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_failed_rows_already_done_and_job_ids(
    isolated: Callable[..., System], tmp_path: Path
) -> None:
    system = isolated()
    system.start_worker("tells", concurrency=4)
    missing, ended = unique("missing-"), unique("ended-")
    rows: list[dict[str, object] | None] = [
        {"conference_id": unique(), "format": "wav"},
        None,
        {"conference_id": missing, "format": "wav"},
        {"conference_id": unique(), "format": "mp3"},
        {"conference_id": ended, "format": "wav"},
        {"conference_id": unique(), "format": "wav"},
    ]
    path = write_jsonl(tmp_path / "jobs.jsonl", rows)
    first = system.cli("bulk", str(path), "--wait", "--json", "--batch-key", "K", "--timeout", "30")
    assert first.returncode == 1, first.stderr
    summary = json.loads(first.stdout)
    (announced,) = FOLLOW.findall(first.stderr)
    assert announced == summary["batch"]
    assert first.stderr.index(announced) < first.stderr.index("waiting up to")  # at once
    failed = summary["failed_rows"]
    assert [(r["line"], r["seq"], r["conference_id"]) for r in failed] == [
        (3, 2, missing),
        (5, 4, ended),
    ]
    assert [(r["reason"], r["http_status"], r["code"]) for r in failed] == [
        ("rejected", 404, "90058"),
        ("rejected", 422, "90019"),
    ]
    assert failed[0]["title"] == "Invalid conference_id"
    assert (summary["failed"], summary["already_done"]) == (2, 0)

    again = system.cli("bulk", str(path), "--wait", "--batch-key", "K", "--timeout", "30")
    assert again.returncode == 1, again.stderr
    assert "already done 3: their command_id had already started a recording" in again.stdout
    assert re.search(r"already done \(nothing sent\)\s*│\s*3\s", again.stdout), again.stdout
    assert re.search(
        rf"line 3  '{missing}'  rejected  http=404  90058 Invalid conference_id  job ", again.stdout
    )
    assert f"line 5  '{ended}'  rejected  http=422  90019" in again.stdout

    shown = system.cli("results", "--count", "20")
    assert shown.returncode == 0, shown.stderr
    line = next(text for text in shown.stdout.splitlines() if repr(missing) in text)
    assert failed[0]["job_id"] in line.split()


def test_ctrl_c_names_the_batch_again_and_exits_130(
    isolated: Callable[..., System], tmp_path: Path
) -> None:
    system = isolated(CONFREC_BULK_STALL_S="0.5")  # no worker: the jobs stay queued
    path = write_jsonl(tmp_path / "jobs.jsonl", [{"conference_id": unique(), "format": "wav"}] * 3)
    with running(system, tmp_path, "bulk", str(path), "--wait", "--timeout", "60") as (proc, err):
        wait_until(lambda: "still queued and none running" in err.read_text(), 15, "stall word")
        text = err.read_text()
        (batch,) = FOLLOW.findall(text)
        assert "waiting: no outcome for" in text
        queue = system.settings.queue
        assert (
            f"3 job(s) still queued and none running; is a worker consuming queue '{queue}'" in text
        )
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 130
    last = err.read_text().strip().splitlines()[-1]
    assert last == (
        "interrupted; all 3 jobs were enqueued and the workers go on without this command. "
        f"batch {batch}: follow it with `confrec batch {batch}`"
    )
    found = BatchStore(system.state).summary(batch)
    assert found is not None and (found.total, found.counts["queued"]) == (3, 3)


def test_a_batch_whose_worker_died_says_it_waits_for_redelivery(
    isolated: Callable[..., System], tmp_path: Path
) -> None:
    system = isolated(CONFREC_BULK_STALL_S="1")
    worker = system.start_worker("doomed", concurrency=2)
    path = write_jsonl(
        tmp_path / "jobs.jsonl", [{"conference_id": unique("slow-5000-"), "format": "wav"}]
    )
    with running(system, tmp_path, "bulk", str(path), "--wait", "--timeout", "5") as (proc, err):
        batch = poll(lambda: FOLLOW.findall(err.read_text()), bool, 15, "batch line")[0]
        store = BatchStore(system.state)
        poll(
            lambda: store.summary(batch),
            lambda s: s is not None and s.counts["running"] == 1,
            15,
            "job running",
        )
        worker.kill_group()
        assert proc.wait(20) == 4
    text = err.read_text()
    assert "waiting: no outcome for" in text
    assert "1 job(s) delivered and not finished, 0 queued" in text
    assert "when the visibility timeout lapses (CONFREC_VISIBILITY_TIMEOUT=20s" in text
    assert re.search(
        r"the oldest unacknowledged delivery is [\d.]+s old, due back in ~[\d.]+s", text
    )
    assert text.count("waiting: no outcome for") == 1  # said once
