"""The ``confrec`` command as users run it: enqueue, bulk, results, and the refusals of a
broken configuration; exit codes, messages, nothing enqueued on bad input. Mostly against
the module's stack (conftest ``system``: one worker on the default queue); commands
checked against workers a test starts itself are in test_cli_own_workers.py."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
import redis

from confrec.config.settings import Settings
from confrec.worker.batches.report import default_wait_timeout
from tests.support.system import System, unique


@pytest.fixture
def idle_queue(system: System) -> dict[str, str]:
    """Env for a queue no worker consumes, so its length shows exactly what was enqueued."""
    return {"CONFREC_QUEUE": f"idle-{uuid.uuid4().hex[:8]}"}


def queue_length(system: System, env: dict[str, str]) -> int:
    return int(system.client.llen(env["CONFREC_QUEUE"]))


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["", "--format", "wav"], "conference_id"),
        (["a\x01b", "--format", "wav"], "conference_id"),
        (["x" * 257, "--format", "wav"], "conference_id"),
        (["conf", "--format", "ogg"], "format"),
        (["conf", "--format", "wav", "--channels", "triple"], "channels"),
        (["conf", "--format", "wav", "--trim", "yes"], "trim"),
        (["conf", "--format", "wav", "--custom-file-name", "n" * 41], "custom_file_name"),
        (["conf", "--format", "wav", "--region", "Mars"], "region"),
        (["conf", "--format", "wav", "--command-id", ""], "command_id"),
    ],
)
def test_invalid_enqueue_exits_2_naming_the_field_and_enqueues_nothing(
    system: System, idle_queue: dict[str, str], args: list[str], field: str
) -> None:
    result = system.cli("enqueue", *args, env=idle_queue)
    assert result.returncode == 2, result.stderr
    assert f"error: {field}:" in result.stderr
    assert queue_length(system, idle_queue) == 0


def test_valid_enqueue_on_the_idle_queue_is_counted(
    system: System, idle_queue: dict[str, str]
) -> None:
    """Control for the test above: the same check sees a job that was enqueued."""
    result = system.cli("enqueue", "conf", "--format", "wav", env=idle_queue)
    assert result.returncode == 0, result.stderr
    assert queue_length(system, idle_queue) == 1


def test_enqueue_prints_ids_and_the_job_succeeds(system: System) -> None:
    conference = unique()
    result = system.cli(
        "enqueue",
        conference,
        "--format",
        "mp3",
        "--no-play-beep",
        "--region",
        "Middle East",
        "--command-id",
        "cmd-fixed-1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["command_id"] == "cmd-fixed-1"
    outcome = system.outcome(printed["job_id"])
    assert (outcome.status, outcome.command_id) == ("succeeded", "cmd-fixed-1")


def write_jsonl(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_bulk_wait_summarizes_every_outcome(system: System, tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"conference_id": unique(), "format": "wav"} for _ in range(20)
    ]
    rows += [
        {"conference_id": unique("flaky-1-"), "format": "mp3"},
        {"conference_id": unique("missing-"), "format": "mp3"},
    ]
    result = system.cli(
        "bulk",
        str(write_jsonl(tmp_path / "jobs.jsonl", rows)),
        "--wait",
        "--json",
        "--timeout",
        "60",
    )
    assert result.returncode == 1, result.stderr  # one job failed: missing-
    summary = json.loads(result.stdout)
    assert summary["complete"] is True
    assert summary["by_reason"] == {"failed/rejected": 1, "succeeded/ok": 21}


def test_bulk_wait_exits_0_when_all_succeed(system: System, tmp_path: Path) -> None:
    csv = tmp_path / "jobs.csv"
    csv.write_text(
        "conference_id,format,channels,play_beep\n"
        + "".join(f"{unique()},wav,dual,true\n" for _ in range(5))
    )
    result = system.cli("bulk", str(csv), "--wait", "--timeout", "60")
    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stdout and "5" in result.stdout


def test_bulk_with_a_bad_row_reports_its_line_and_enqueues_nothing(
    system: System, idle_queue: dict[str, str], tmp_path: Path
) -> None:
    csv = tmp_path / "jobs.csv"
    csv.write_text(
        "conference_id,format,region\n"
        "good-1,wav,US\n"
        "good-2,mp3,Europe\n"
        "bad-3,ogg,US\n"
        "bad-4,wav,Mars\n"
    )
    result = system.cli("bulk", str(csv), env=idle_queue)
    assert result.returncode == 2
    assert "line 4: format:" in result.stderr
    assert "line 5: region:" in result.stderr
    assert "nothing was enqueued" in result.stderr
    assert queue_length(system, idle_queue) == 0


def test_bulk_batch_key_fixes_command_ids(
    system: System, idle_queue: dict[str, str], tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "jobs.jsonl", [{"conference_id": "c1", "format": "wav"}])
    for _ in range(2):
        assert system.cli("bulk", str(path), "--batch-key", "K1", env=idle_queue).returncode == 0
    kwargs = [queued_kwargs(m) for m in system.client.lrange(idle_queue["CONFREC_QUEUE"], 0, -1)]
    assert len(kwargs) == 2
    assert kwargs[0]["command_id"] == kwargs[1]["command_id"]


def queued_kwargs(message: str | bytes) -> dict[str, object]:
    """The task kwargs of a raw kombu message as it sits in the Redis list."""
    envelope = json.loads(message)
    args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
    assert args == []
    return dict(kwargs)


def test_worker_refuses_to_start_without_api_key(system: System) -> None:
    result = system.cli("worker", env={"TELNYX_API_KEY": ""})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: TELNYX_API_KEY is not set; the worker needs it to call Telnyx"
    ]


def test_results_prints_outcomes_as_json_lines(system: System) -> None:
    conference = unique()
    job_id = json.loads(system.cli("enqueue", conference, "--format", "wav", "--json").stdout)[
        "job_id"
    ]
    system.outcome(job_id)
    result = system.cli("results", "--count", "50", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(o["job_id"] == job_id and o["status"] == "succeeded" for o in lines)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CONFREC_VISIBILITY_TIMEOUT": "12"}, "CONFREC_VISIBILITY_TIMEOUT (12s) must exceed"),
        ({"CONFREC_RATE_LIMIT": "fast"}, "CONFREC_RATE_LIMIT: Input should be a valid number"),
    ],
)
def test_worker_refuses_a_broken_configuration_in_one_line(
    system: System, env: dict[str, str], message: str
) -> None:
    result = system.cli("worker", env=env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert message in line


def test_bulk_wait_on_a_queue_nobody_consumes_exits_4_counting_the_missing(
    system: System, idle_queue: dict[str, str], tmp_path: Path
) -> None:
    rows: list[dict[str, object]] = [{"conference_id": unique(), "format": "wav"}] * 3
    path = write_jsonl(tmp_path / "jobs.jsonl", rows)
    result = system.cli("bulk", str(path), "--wait", "--json", "--timeout", "1", env=idle_queue)
    assert result.returncode == 4, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["complete"], summary["missing"], summary["outcomes"]) == (False, 3, 0)
    assert "error: timed out after 1s: 3 of 3 outcomes missing" in result.stderr


def test_bulk_wait_without_timeout_uses_the_derived_bound(
    system: System, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in system.env.items():
        monkeypatch.setenv(name, value)
    bound = default_wait_timeout(3, Settings())
    rows = [{"conference_id": unique(), "format": "wav"} for _ in range(3)]
    result = system.cli("bulk", str(write_jsonl(tmp_path / "jobs.jsonl", rows)), "--wait", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["timeout_s"] == bound
    assert f"waiting up to {bound:g}s for 3 outcomes" in result.stderr


def test_bulk_wait_reads_outcomes_from_the_state_redis_not_the_broker(
    isolated: Callable[..., System], tmp_path: Path
) -> None:
    probe = isolated()
    state_url = probe.redis_url.rsplit("/", 1)[0] + "/3"
    system = isolated(CONFREC_REDIS_URL=state_url)
    system.start_worker("state", concurrency=2)
    rows = [{"conference_id": unique(), "format": "wav"} for _ in range(3)]
    result = system.cli(
        "bulk", str(write_jsonl(tmp_path / "jobs.jsonl", rows)), "--wait", "--timeout", "60"
    )
    assert result.returncode == 0, result.stderr
    stream = system.settings.results_stream
    assert redis.Redis.from_url(state_url).xlen(stream) == 3
    assert system.client.exists(stream) == 0  # db 0: the broker's


def test_enqueue_prints_its_ids_on_one_line_when_piped(
    system: System, idle_queue: dict[str, str]
) -> None:
    command_id = "[bold]" + "k" * 200  # longer than any terminal; markup must stay text
    result = system.cli(
        "enqueue", "c" * 256, "--format", "wav", "--command-id", command_id, env=idle_queue
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert re.fullmatch(rf"job_id [0-9a-f-]{{36}} command_id {re.escape(command_id)}", line)


@pytest.mark.parametrize(
    "args",
    [
        ["bulk", "FILE"],
        ["bulk", "FILE", "--wait"],
        ["results"],
        ["results", "--group", "billing"],
        ["stats"],
        ["enqueue", "conf", "--format", "wav"],
        ["demo", "--jobs", "1"],
    ],
)
def test_a_non_redis_broker_without_redis_url_is_one_line_and_exit_2(
    system: System, tmp_path: Path, args: list[str]
) -> None:
    path = write_jsonl(tmp_path / "jobs.jsonl", [{"conference_id": "c1", "format": "wav"}])
    argv = [str(path) if a == "FILE" else a for a in args]
    result = system.cli(*argv, env={"CONFREC_BROKER_URL": "amqp://guest@rabbit//"})
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: configuration: CONFREC_REDIS_URL is required")
