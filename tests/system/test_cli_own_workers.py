"""The ``confrec`` command against workers a test starts itself (conftest ``isolated``, a
queue and results stream of its own): ``results --group`` shows each outcome once per
group and reclaims what a crashed consumer left, and the worker's pool comes from settings
and options. The demo: test_listeners.py. The other commands: test_cli_commands.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from confrec.worker.local.processes import start_worker
from tests.support.system import System, unique, worker_ready


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


#: Options, settings and the pool the worker's banner must then show.
POOLS: list[tuple[list[str], dict[str, str], str]] = [
    ([], {}, "16 (thread)"),
    (["--pool", "prefork", "-c", "2"], {}, "2 (prefork)"),
    ([], {"CONFREC_POOL": "prefork", "CONFREC_CONCURRENCY": "3"}, "3 (prefork)"),
]


def test_worker_pool_comes_from_settings_and_options_override_it(
    isolated: Callable[..., System],
) -> None:
    """Each case's worker started at once (a start is mostly waiting), then each banner."""
    started = []
    for args, env, _ in POOLS:
        system = isolated(**env)
        name = f"pool{uuid.uuid4().hex[:6]}"
        worker = start_worker(system.workdir, name, system.env, args, wait=False)
        system.workers.append(worker)  # stopped by the isolated fixture, whatever happens
        started.append((system, worker))
    for (system, worker), (args, env, banner) in zip(started, POOLS, strict=True):
        worker_ready(worker, system.env, args)
        assert f"concurrency: {banner}" in worker.log(), (args, env)


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
