"""Many hosts: broker, simulator, a control host and two groups of workers, each in its
own network namespace on one private LAN (``tests/support/netns.py``), so nothing can lean
on localhost, and a host can be cut off mid-batch while the others carry on."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from confrec.tasks.job import Outcome
from confrec.worker.local.processes import (
    CONFREC,
    ManagedProcess,
    start_redis,
    start_simulator,
    start_worker,
    wait_until,
)
from tests.support import netns
from tests.support.system import API_KEY, FAST_RETRIES, QUICK_REDELIVERY

REPO = Path(__file__).resolve().parents[2]
GROUPS = ("g1", "g2")
#: Worker processes per group, and threads per process.
PROCESSES, THREADS = 2, 4
RATE, BURST = 10, 3
PUBLISHED = re.compile(r"job ([0-9a-f-]+) conference .*: (?:succeeded|failed) \(")
SKIPPED = re.compile(r"job ([0-9a-f-]+) already has its outcome; redelivery skipped")


@dataclass
class Network:
    """The LAN and what every test shares on it: the broker host's redis-server."""

    lan: netns.Lan
    workdir: Path
    broker_url: str


@dataclass
class Fleet:
    """One test's simulator and worker groups; asks the control host about the LAN."""

    network: Network
    env: dict[str, str]
    sim: ManagedProcess
    groups: dict[str, list[ManagedProcess]] = field(default_factory=dict)
    cut_off: set[str] = field(default_factory=set)

    def drive(self, *args: str, timeout: float = 30) -> Any:
        """Run ``tests.support.hosts_driver ARGS`` on the control host; its JSON answer."""
        control = self.network.lan.hosts["ctl"]
        argv = control.run(sys.executable, "-m", "tests.support.hosts_driver", *args)
        done = subprocess.run(
            argv,
            env={**os.environ, **self.env, "HOSTS_SIM_ROOT": self.sim.extra["root"]},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout + 20,  # its own wait, plus start-up
            check=False,
        )
        assert done.returncode == 0, f"driver {args[0]} failed: {done.stderr[-3000:]}"
        return json.loads(done.stdout)

    def enqueue(self, conference_ids: list[str]) -> list[str]:
        job_ids: list[str] = self.drive("enqueue", *conference_ids)
        return job_ids

    def outcomes(self, job_ids: list[str], timeout: float) -> dict[str, list[Outcome]]:
        """Every outcome of these jobs, read until nothing could be redelivered any more."""
        found = self.drive("outcomes", "--timeout", str(timeout), *job_ids, timeout=timeout)
        return {job: [Outcome.model_validate(o) for o in outs] for job, outs in found.items()}

    def sim_stats(self) -> Any:
        return self.drive("sim", "/_sim/stats")

    def logged(self, group: str, pattern: re.Pattern[str]) -> set[str]:
        """Job ids a line of ``pattern`` names in the logs of ``group``'s workers."""
        return {m for proc in self.groups[group] for m in pattern.findall(proc.log())}

    def cut(self, group: str) -> None:
        self.cut_off.add(group)
        self.network.lan.cut(self.network.lan.hosts[group])

    def start(self, workdir: Path) -> None:
        """Every worker at once (start-up is the slow part), then wait for all of them
        and for the simulator, as seen from the control host."""
        for group in GROUPS:
            host = self.network.lan.hosts[group]
            self.groups[group] = [
                start_worker(
                    workdir / group,
                    f"{group}{n}-{workdir.name}",
                    self.env,
                    ["-c", str(THREADS)],
                    wait=False,
                    command=host.run(*CONFREC),
                )
                for n in range(PROCESSES)
            ]
        self.drive("ready")
        workers = [proc for procs in self.groups.values() for proc in procs]
        up = lambda: all("ready." in p.log() or not p.alive() for p in workers)  # noqa: E731
        wait_until(up, 40, "workers on both hosts")
        for proc in workers:
            assert proc.alive(), f"worker {proc.name} exited: {proc.log()[-2000:]}"

    def stop(self) -> None:
        """Cut-off hosts die as a crashed host would; the rest shut down cleanly, all
        told at once (each shutdown takes a moment)."""
        clean = [self.sim]
        for group, procs in self.groups.items():
            for proc in procs:
                proc.kill_group() if group in self.cut_off else clean.append(proc)
        for proc in clean:
            proc.signal(signal.SIGTERM)
        for proc in clean:
            proc.stop()


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """The LAN's namespaces and the broker; all removed at the end, whatever happened."""
    if reason := netns.unavailable():
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("hosts")
    lan = netns.Lan()
    redis_proc: ManagedProcess | None = None
    try:
        try:
            lan.create()
        except netns.NamespaceError as exc:  # e.g. a container without CAP_SYS_ADMIN
            pytest.skip(f"{netns.NEEDS_ROOT}: {exc}")
        for octet, name in enumerate(("broker", "sim", "ctl", *GROUPS), start=2):
            lan.add_host(name, octet)
        broker = lan.hosts["broker"]
        redis_proc = start_redis(
            workdir / "redis",
            host=broker.address,
            password=uuid.uuid4().hex,  # off loopback, Redis's protected mode wants one
            command=broker.run(),
            wait=False,
        )
        yield Network(lan, workdir, redis_proc.extra["url"])
    finally:
        if redis_proc is not None:
            redis_proc.stop()
        lan.remove()


@pytest.fixture
def fleet_of(network: Network) -> Iterator[Callable[..., Fleet]]:
    """Makes a Fleet with these worker settings: its own simulator (so its counters see
    only this test), queue and results stream. Stopped at the end of the test."""
    made: list[Fleet] = []

    def make(**settings: str) -> Fleet:
        tag = uuid.uuid4().hex[:6]
        workdir = network.workdir / tag
        sim_host = network.lan.hosts["sim"]
        sim = start_simulator(
            workdir / "sim",
            api_key=API_KEY,
            latency_ms=5,
            host=sim_host.address,
            command=sim_host.run(*CONFREC),
            wait=False,
        )
        env = {
            "CONFREC_BROKER_URL": network.broker_url,
            "TELNYX_API_KEY": API_KEY,
            "TELNYX_BASE_URL": sim.extra["base_url"],
            "CONFREC_QUEUE": f"queue-{tag}",
            "CONFREC_RESULTS_STREAM": f"results-{tag}",
            **FAST_RETRIES,
            **settings,
        }
        fleet = Fleet(network, env, sim)
        made.append(fleet)
        fleet.start(workdir)
        return fleet

    yield make
    for fleet in made:
        fleet.stop()


def exactly_one_each(outcomes: dict[str, list[Outcome]], job_ids: list[str]) -> None:
    assert sorted(outcomes) == sorted(job_ids)
    assert {job: len(found) for job, found in outcomes.items() if len(found) != 1} == {}
    assert {found[0].status for found in outcomes.values()} == {"succeeded"}


def test_jobs_from_the_control_host_run_on_both_hosts_under_one_rate_limit(
    fleet_of: Callable[..., Fleet],
) -> None:
    fleet = fleet_of(CONFREC_RATE_LIMIT=str(RATE), CONFREC_RATE_BURST=str(BURST))
    tag = uuid.uuid4().hex[:8]
    job_ids = fleet.enqueue([f"hosts-{tag}-{i:02d}" for i in range(60)])
    exactly_one_each(fleet.outcomes(job_ids, timeout=40), job_ids)

    by_group = {g: fleet.logged(g, PUBLISHED) & set(job_ids) for g in GROUPS}
    assert by_group["g1"] and by_group["g2"], "one host did all the work"
    assert by_group["g1"].isdisjoint(by_group["g2"])
    assert by_group["g1"] | by_group["g2"] == set(job_ids)
    # 16 threads on two hosts could send far more; the one bucket in Redis lets 10/s + 3.
    assert fleet.sim_stats()["max_requests_in_any_second"] <= RATE + BURST


def test_a_host_cut_off_mid_batch_leaves_its_jobs_to_the_other_host(
    fleet_of: Callable[..., Fleet],
) -> None:
    fleet = fleet_of(**QUICK_REDELIVERY)
    tag = uuid.uuid4().hex[:8]
    conferences = [f"slow-1500-{tag}-{i:02d}" for i in range(40)]  # 16 threads: 3 rounds
    job_ids = fleet.enqueue(conferences)
    wanted = set(job_ids)

    # Each thread takes its next job as it publishes one, and the queue is not empty yet:
    # just after g1's first outcome, g1's threads have sent the requests of their next jobs.
    wait_until(lambda: bool(fleet.logged("g1", PUBLISHED) & wanted), 20, "g1's first outcome")
    fleet.cut("g1")

    outcomes = fleet.outcomes(job_ids, timeout=50)
    exactly_one_each(outcomes, job_ids)
    by_g1 = fleet.logged("g1", PUBLISHED) & wanted
    by_g2 = fleet.logged("g2", PUBLISHED) & wanted
    assert by_g1.isdisjoint(by_g2)
    # g1's publish may have run in Redis with its reply lost to the cut: g1 could not log
    # it, and g2's redelivery found the outcome there and sent nothing.
    assert wanted - by_g1 - by_g2 <= fleet.logged("g2", SKIPPED)
    # A job whose earlier delivery had sent its request was cut short on g1 (g2 is never
    # cut): g2 finished it, with the same command_id, redelivered after the timeout.
    cut_short = {job for job, found in outcomes.items() if found[0].redelivered}
    assert cut_short, "the cut hit no job in flight on g1"
    assert cut_short <= by_g2
    stats = fleet.sim_stats()["conferences"]
    for conference in conferences:
        assert len(stats[conference]["command_ids"]) == 1, conference
        assert stats[conference]["recordings"] == 1, conference
