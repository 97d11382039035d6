"""The way back from Telnyx in the system tests: a real ``confrec simulate`` sending its
signed webhooks to a real ``confrec serve``, real workers, and bounded waits on each job's
recording state as ``GET /v1/jobs/{id}`` shows it."""

from __future__ import annotations

import base64
import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from nacl.signing import SigningKey

from confrec.tasks.status import SETTLED
from confrec.tasks.store import keys
from confrec.worker.local.processes import (
    ManagedProcess,
    free_port,
    ready_or_stop,
    start_simulator,
)
from tests.support.flower import answers
from tests.support.hooks import public_key
from tests.support.serve import OPERATOR_TOKEN, Stack, running_stack
from tests.support.system import API_KEY
from tests.support.waiting import poll, wait_until


@dataclass
class Way:
    """A serve, its workers and the simulator whose webhooks it receives."""

    stack: Stack
    sim: ManagedProcess

    @property
    def sim_root(self) -> str:
        return str(self.sim.extra["root"])

    def enqueue(self, conference_id: str, fmt: str = "wav") -> str:
        """One job over HTTP (a producer of its own: a command_id of its own)."""
        return self.stack.api.enqueue({"conference_id": conference_id, "format": fmt})["job_id"]

    def status(self, job_id: str) -> dict[str, Any]:
        """As an operator: the recording tests read jobs of the CLI's too."""
        return self.stack.api.status(job_id, OPERATOR_TOKEN)

    def settled(self, job_id: str, timeout: float = 20, want: str | None = None) -> dict[str, Any]:
        """The job's status once its recording state is settled (not pending) — ``want``,
        when given: a state can change while another job's recording is still to come."""
        return poll(
            lambda: self.status(job_id),
            lambda doc: doc["recording_state"] in ({want} if want else SETTLED),
            timeout,
            f"job {job_id}'s recording state {want or 'settled'}",
        )

    def started(self, job_id: str, timeout: float = 30) -> dict[str, Any]:
        """The job's status once it finished; it must have started a recording."""
        doc = self.stack.api.finished(job_id, timeout, OPERATOR_TOKEN)
        assert doc["outcome"]["status"] == "succeeded", doc
        return doc

    def window(self, job_id: str) -> dict[str, Any]:
        """The job's start window as the ledger holds it (for failure messages)."""
        names = ("first_attempt_at", "answered_at", "offset")
        values: Any = self.stack.system.state.hmget(keys.job_state(job_id), names)
        return dict(zip(names, values, strict=True))

    def conference(self, address: str) -> dict[str, Any]:
        """What the simulator holds of the conference an id or name made: its id and its
        recordings, each with ``recording_started_at`` on its (Telnyx's) clock."""
        found = [
            c
            for c in httpx.get(f"{self.sim_root}/_sim/conferences", timeout=5).json()
            if address in (c["address"], c["id"])
        ]
        assert len(found) == 1, found
        conference: dict[str, Any] = found[0]
        return conference

    def recording_ids(self, address: str) -> list[str]:
        """The saved recordings of a conference, in the order they started."""
        recs = sorted(
            self.conference(address)["recordings"], key=lambda r: r["recording_started_at"]
        )
        return [r["id"] for r in recs if r["saved"]]


def past_its_second(doc: dict[str, Any]) -> None:
    """Wait until 1.5 s after the job's 2xx: a request sent now is answered with another
    ``Date`` (whole seconds) than it was."""
    answered = datetime.fromisoformat(doc["outcome"]["finished_at"]).timestamp()
    wait_until(lambda: time.time() > answered + 1.5, 5, "1.5 s after the job's 2xx")


def owned(doc: dict[str, Any]) -> list[str]:
    return [r["recording_id"] for r in doc["recordings"]]


def others(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["recording_id"], r["match"]) for r in doc["other_recordings"]]


def signing_simulator(
    workdir: Path, serve_port: int, *sim_args: str, wait: bool = True
) -> tuple[ManagedProcess, SigningKey]:
    """A simulator (``sim_args`` added) saving recordings 0.2 s after they start, its
    webhooks signed with a key made here sent to a serve on ``serve_port``; and the key.
    Without ``wait`` the caller waits for it (``sim_ready``)."""
    seed = os.urandom(32)
    sim = start_simulator(
        workdir,
        api_key=API_KEY,
        latency_ms=5,
        wait=wait,
        env={"CONFREC_SIM_SIGNING_KEY": base64.b64encode(seed).decode()},
        extra_args=[
            "--recording-seconds",
            "0.2",
            "--webhook-url",
            f"http://127.0.0.1:{serve_port}/webhooks/telnyx",
            *sim_args,
        ],
    )
    return sim, SigningKey(seed)


def sim_ready(sim: ManagedProcess) -> None:
    """Wait for a simulator started without waiting (stopped if it never answers)."""
    health = f"{sim.extra['root']}/_sim/health"
    ready_or_stop(sim, lambda: answers(health), 15, "simulator")


@contextlib.contextmanager
def webhook_way(
    workdir: Path,
    redis_url: str,
    *sim_args: str,
    verify: bool = True,
    workers: int = 1,
    concurrency: int = 4,
    **env: str,
) -> Iterator[Way]:
    """A simulator (``sim_args`` added; recordings saved 0.2 s after they start) whose
    webhooks, signed with a key made here, go to a serve (with the public key unless
    ``verify`` is False) on fresh names, and ``workers`` workers (``env`` added); every
    process stopped after."""
    port = free_port()
    sim_dir = workdir / f"sim-{uuid.uuid4().hex[:8]}"
    sim, key = signing_simulator(sim_dir, port, *sim_args, wait=False)  # starts beside serve
    try:
        keyed = {"TELNYX_PUBLIC_KEY": public_key(key)} if verify else {}
        with running_stack(workdir, redis_url, sim, port=port, **keyed) as stack:
            stack.system.env.update(env)
            names = [f"way-{uuid.uuid4().hex[:6]}" for _ in range(workers)]
            stack.system.start_workers(names, concurrency=concurrency)
            sim_ready(sim)
            yield Way(stack, sim)
    finally:
        sim.stop()
