"""``confrec bulk --until-saved`` on the real way back (redis, serve, workers, ``confrec
simulate`` sending its signed webhooks): a batch re-sent with the same ``--batch-key``
leaves the recording on the original job — the re-sent job sent nothing, shows the
original's recording and takes nothing (on the code before issue 20 the re-send stole it,
and the original's wait timed out) — and a serve that cannot verify webhooks is named as
the cause (exit 9), not Telnyx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from confrec.worker.exitcodes import ExitCode
from confrec.worker.local.processes import ManagedProcess, start_redis
from tests.support.recordings import Way, owned, webhook_way
from tests.support.system import unique_id

ALL_SAVED = "recordings: 1 started, 1 saved, 0 not saved, 0 unknown, 0 ambiguous, 0 pending"


def jobs_file(path: Path, conference_id: str) -> Path:
    path.write_text(json.dumps({"conference_id": conference_id, "format": "wav"}) + "\n")
    return path


def outcomes_of(way: Way, conference_id: str) -> list[dict[str, Any]]:
    """The outcomes published for the conference's jobs, oldest first."""
    system = way.stack.system
    rows: Any = system.state.xrange(system.settings.results_stream)
    found = [json.loads(fields["outcome"]) for _, fields in rows]
    return [o for o in found if o["conference_id"] == conference_id]


def test_a_batch_re_sent_with_its_key_leaves_the_recording_on_the_original(
    redis_proc: ManagedProcess, workdir: Path, tmp_path: Path
) -> None:
    conference = unique_id()
    path = jobs_file(tmp_path / "jobs.jsonl", conference)
    argv = ["bulk", str(path), "--batch-key", "nightly", "--until-saved", "--timeout", "60"]
    with webhook_way(workdir, redis_proc.extra["url"]) as way:
        sent = way.stack.system.cli(*argv)
        assert sent.returncode == ExitCode.OK, sent.stderr
        assert ALL_SAVED in sent.stdout.splitlines()

        again = way.stack.system.cli(*argv)  # the README's recovery advice
        assert again.returncode == ExitCode.OK, again.stderr
        assert ALL_SAVED in again.stdout.splitlines()

        original, resent = outcomes_of(way, conference)
        assert resent["duplicate_of"] == original["job_id"]
        assert resent["command_id"] == original["command_id"]
        (recording,) = way.recording_ids(conference)  # the re-send started nothing
        first = way.status(original["job_id"])
        assert (first["recording_state"], owned(first)) == ("saved", [recording])
        second = way.status(resent["job_id"])
        assert (second["recording_state"], owned(second)) == ("saved", [recording])
        assert second["recording_reason"] == f"sent nothing: a duplicate of {original['job_id']}"
        assert first["recording_reason"] is None

        # The outcome reader shows each started job's recording state beside its outcome.
        read = way.stack.system.cli("results", "--json", "--count", "2")
        shown = [json.loads(line) for line in read.stdout.splitlines()]
        assert [(o["job_id"], o["recording_state"]) for o in shown] == [
            (original["job_id"], "saved"),
            (resent["job_id"], "saved"),
        ]


def test_until_saved_names_a_serve_that_cannot_verify_webhooks(
    workdir: Path, tmp_path: Path
) -> None:
    """serve has no TELNYX_PUBLIC_KEY: it answers every webhook 503, so waiting is waiting
    for nothing. A Redis of its own: what serve notes of it is not for other tests."""
    redis = start_redis(tmp_path / "redis")
    try:
        with webhook_way(workdir, redis.extra["url"], verify=False) as way:
            path = jobs_file(tmp_path / "jobs.jsonl", unique_id())
            result = way.stack.system.cli("bulk", str(path), "--until-saved", "--timeout", "4")
            assert result.returncode == ExitCode.WEBHOOKS_UNVERIFIED, result.stderr
            pending = (
                "recordings: 1 started, 0 saved, 0 not saved, 0 unknown, 0 ambiguous, 1 pending"
            )
            assert pending in result.stdout.splitlines()
            error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
            assert len(error) == 1 and "TELNYX_PUBLIC_KEY" in error[0], result.stderr
            assert "503" in error[0]
            warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
            assert len(warning) == 1 and "TELNYX_PUBLIC_KEY" in warning[0], result.stderr
    finally:
        redis.stop()
