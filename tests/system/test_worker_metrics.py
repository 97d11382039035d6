"""``CONFREC_METRICS_PORT``: a real ``confrec worker`` serves Prometheus metrics whose
counts match the outcomes it published, with the threads pool and with prefork (where
the jobs run in child processes and the main process serves their sum)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from confrec.worker.exitcodes import ExitCode
from confrec.worker.local.processes import ManagedProcess, free_port, start_worker, wait_until
from tests.support.system import API_KEY, System, unique

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample of ``/metrics``, keyed by name and sorted labels; {} if no answer."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return {}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def expected(ok: int, rejected: int) -> Samples:
    outcome = "confrec_outcomes_total"
    return {
        (outcome, (("reason", "ok"), ("status", "succeeded"))): ok,
        (outcome, (("reason", "rejected"), ("status", "failed"))): rejected,
        ("confrec_telnyx_requests_total", (("code", "200"),)): ok,
        ("confrec_telnyx_requests_total", (("code", "422"),)): rejected,
        ("confrec_telnyx_request_duration_seconds_count", ()): ok + rejected,
        ("confrec_job_attempts_count", ()): ok + rejected,
        ("confrec_job_attempts_sum", ()): ok + rejected,
        ("confrec_rate_limit_wait_seconds_count", ()): ok + rejected,
    }


def _worker(system: System, pool: list[str]) -> ManagedProcess:
    proc = start_worker(system.workdir, f"m{unique()[-6:]}", system.env, pool)
    system.workers.append(proc)  # stopped by the isolated fixture, whatever happens
    return proc


@pytest.mark.parametrize(
    ("broker", "pool"),
    [
        ("redis", ["-c", "4"]),
        ("redis", ["--pool", "prefork", "-c", "2"]),
        ("rabbitmq", ["-c", "4"]),
    ],
)
def test_worker_metrics_count_what_the_worker_did(
    isolated: Callable[..., System], own_simulator: ManagedProcess, broker: str, pool: list[str]
) -> None:
    port = free_port()
    system = isolated(own_simulator, broker=broker, CONFREC_METRICS_PORT=str(port))
    proc = _worker(system, pool)
    ok = system.enqueue([unique() for _ in range(5)])
    rejected = system.enqueue([unique("ended-") for _ in range(3)])
    outcomes = system.outcomes(ok + rejected)
    assert sorted(o[0].reason for o in outcomes.values()) == ["ok"] * 5 + ["rejected"] * 3
    want = expected(len(ok), len(rejected))

    def counted() -> bool:
        found = scrape(port)
        return all(found.get(key) == value for key, value in want.items())

    wait_until(counted, 15, f"metrics matching the outcomes (log {proc.log_path})", 0.2)
    found = scrape(port)
    assert found[("confrec_redeliveries_total", ())] == 0
    assert found[("confrec_faulty_deliveries_total", ())] == 0
    assert found[("confrec_queue_depth", ())] == 0
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    assert API_KEY not in text and system.redis_url not in text and system.broker_url not in text
    assert "conference" not in text.replace("record_start", "")  # no ids as labels


def test_a_taken_metrics_port_is_a_one_line_error(
    isolated: Callable[..., System], own_simulator: ManagedProcess
) -> None:
    port = free_port()
    system = isolated(own_simulator, CONFREC_METRICS_PORT=str(port))
    _worker(system, ["-c", "1"])
    result = system.cli("worker", env={"CONFREC_METRICS_PORT": str(port)})
    assert result.returncode == ExitCode.PORT_IN_USE, result.stderr
    assert result.stderr.startswith(f"error: port {port} is already in use"), result.stderr
    assert "(set by CONFREC_METRICS_PORT" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_killed_workers_metrics_folder_is_gone_after_the_next_start(
    isolated: Callable[..., System], own_simulator: ManagedProcess, tmp_path: Path
) -> None:
    """SIGKILL leaves no chance to clean up: the next worker on the host removes the
    folder of every metrics-serving worker that is no longer running. A private TMPDIR
    keeps the test off the machine's /tmp."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    system = isolated(own_simulator, CONFREC_METRICS_PORT=str(free_port()), TMPDIR=str(tmpdir))

    def leaves() -> list[Path]:
        """Folders under TMPDIR with no folder inside: one per worker's metrics."""
        folders = [p for p in tmpdir.rglob("*") if p.is_dir()]
        return [p for p in folders if not any(q.parent == p for q in folders)]

    killed = _worker(system, ["-c", "1"])
    (old,) = leaves()
    killed.kill_group()
    assert old.is_dir()  # nobody cleaned up
    _worker(system, ["-c", "1"])
    (new,) = leaves()
    assert new != old and not old.exists()
