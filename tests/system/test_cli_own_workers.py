"""The ``confrec`` command against workers a test starts itself (conftest ``isolated``, a
queue and results stream of its own): ``results --group`` shows each outcome once per
group and reclaims what a crashed consumer left, the worker's pool comes from settings
and options, and the demo exits 0. The other commands: test_cli_commands.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from confrec.worker.local.processes import start_redis, start_worker
from tests.support.system import System, unique


def test_results_group_shows_each_outcome_once_per_group(isolated: Callable[..., System]) -> None:
    system = isolated()
    system.start_worker("grouped", concurrency=2)
    first = system.enqueue([unique(), unique()])
    system.outcomes(first)

    def read(group: str) -> list[str]:
        result = system.cli("results", "--group", group, "--count", "100", "--json")
        assert result.returncode == 0, result.stderr
        return [json.loads(line)["job_id"] for line in result.stdout.splitlines()]

    assert sorted(read("billing")) == sorted(first)
    assert read("billing") == []  # acknowledged: not shown to the group again
    second = system.enqueue([unique()])
    system.outcomes(second)
    assert read("billing") == second
    assert sorted(read("audit")) == sorted(first + second)  # another group reads it all


@pytest.mark.parametrize(
    ("args", "env", "banner"),
    [
        ([], {}, "16 (thread)"),
        (["--pool", "prefork", "-c", "2"], {}, "2 (prefork)"),
        ([], {"CONFREC_POOL": "prefork", "CONFREC_CONCURRENCY": "3"}, "3 (prefork)"),
    ],
)
def test_worker_pool_comes_from_settings_and_options_override_it(
    isolated: Callable[..., System], args: list[str], env: dict[str, str], banner: str
) -> None:
    system = isolated(**env)
    worker = start_worker(system.workdir, f"pool{uuid.uuid4().hex[:6]}", system.env, args)
    try:
        assert f"concurrency: {banner}" in worker.log()
    finally:
        worker.stop()


def group_read(system: System, group: str, *args: str) -> list[str]:
    """Job ids ``confrec results --group`` printed (and acknowledged)."""
    result = system.cli("results", "--group", group, "--count", "100", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["job_id"] for line in result.stdout.splitlines()]


def crashed_consumer_reads(system: System, group: str, count: int) -> list[str]:
    """Entry ids a consumer read and never acknowledged, as if it died right after."""
    system.stream().ensure_group(group)
    stream = system.settings.results_stream
    reply = system.client.xreadgroup(group, "crashed", {stream: ">"}, count=count)
    assert isinstance(reply, list)  # [[stream, [(entry_id, fields), ...]]]
    return [entry_id for entry_id, _ in reply[0][1]]


def pending(system: System, group: str) -> int:
    return int(system.client.xpending(system.settings.results_stream, group)["pending"])


def test_results_group_reclaims_what_a_crashed_consumer_left(
    isolated: Callable[..., System],
) -> None:
    system = isolated()
    system.start_worker("reclaim", concurrency=2)
    job_ids = system.enqueue([unique() for _ in range(3)])
    system.outcomes(job_ids)
    crashed_consumer_reads(system, "billing", 2)
    # Read only a moment ago: with the default 60 s it may still be in hand, not taken.
    (unread,) = group_read(system, "billing")
    assert pending(system, "billing") == 2
    reclaimed = group_read(system, "billing", "--reclaim-idle", "0")
    assert sorted([unread, *reclaimed]) == sorted(job_ids)
    assert pending(system, "billing") == 0
    assert group_read(system, "billing", "--reclaim-idle", "0") == []


def test_results_group_reclaim_skips_entries_deleted_from_the_stream(
    isolated: Callable[..., System],
) -> None:
    system = isolated()
    system.start_worker("trimmed", concurrency=2)
    job_ids = system.enqueue([unique() for _ in range(3)])
    outcomes = system.outcomes(job_ids)
    first, _ = crashed_consumer_reads(system, "billing", 2)
    system.client.xdel(system.settings.results_stream, first)  # trimmed while pending
    shown = group_read(system, "billing", "--reclaim-idle", "0")
    assert len(shown) == 2 and set(shown) < set(outcomes)
    assert pending(system, "billing") == 0


def test_the_demo_exits_0_with_failed_jobs_it_made_on_purpose(
    isolated: Callable[..., System], tmp_path: Path
) -> None:
    redis = start_redis(tmp_path / "redis")  # the demo's fleet alone on it, as a user's is
    try:
        system = isolated(redis_url=redis.extra["url"])
        result = system.cli("demo", "--jobs", "40", "--workers", "1", timeout=240)
    finally:
        redis.stop()
    assert result.returncode == 0, result.stderr
    assert "rejected" in result.stdout  # the missing- conference
    assert "found by reconciliation: job" in result.stdout  # a nosavedhook- conference
    assert "waiting up to" in result.stderr
