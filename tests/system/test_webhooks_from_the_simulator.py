"""The simulator's own signed webhooks, end to end: a simulator with a signing key of the
test's own delivers ``conference.recording.saved`` (one duplicated, one late) to a real
``confrec serve``, and each job's status holds its recording once. Webhooks signed here,
refused and stored: test_webhooks_signed_events.py."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import httpx

from confrec.worker.local.processes import ManagedProcess, free_port
from tests.support.hooks import DUPLICATE, STORED, Hooks, public_key
from tests.support.recordings import signing_simulator
from tests.support.serve import Stack, running_stack
from tests.support.system import unique, unique_id
from tests.support.waiting import poll


def test_the_simulators_webhooks_reach_each_jobs_status_once(
    redis_proc: ManagedProcess, workdir: Path, tmp_path: Path
) -> None:
    port = free_port()
    sim, key = signing_simulator(tmp_path / "simulator", port)
    try:
        root = sim.extra["root"]
        assert httpx.get(f"{root}/_sim/public-key").json() == {"public_key": public_key(key)}
        with running_stack(
            workdir, redis_proc.extra["url"], sim, port=port, TELNYX_PUBLIC_KEY=public_key(key)
        ) as stack:
            stack.system.start_worker(f"e2e-{uuid.uuid4().hex[:6]}", concurrency=4)
            hooks = Hooks(stack, key)
            # ids, and names (a fault prefix makes one) the workers resolve to the id
            addresses = [unique_id(), unique_id(), unique_id(), unique("dupsaved-")]
            asked = [
                {"conference_id": address, "format": ("wav", "mp3")[i % 2]}
                for i, address in enumerate([*addresses, unique("latesaved-300-")])
            ]
            jobs = [{**stack.api.enqueue(job), "format": job["format"]} for job in asked]
            for job in jobs:
                recorded_once(stack, job)

            webhooks = poll(
                lambda: httpx.get(f"{root}/_sim/stats", params={"conferences": "0"}).json()[
                    "webhooks"
                ],
                lambda w: w["pending"] == 0,
                30,
                "the simulator's webhooks delivered",
            )
            assert webhooks == {"sent": 6, "attempts": 6, "failed": 0, "pending": 0}
            deliveries = httpx.get(f"{root}/_sim/webhooks").json()
            dup = [d for d in deliveries if d["conference_name"] == asked[3]["conference_id"]]
            assert len(dup) == 2 and dup[0]["id"] == dup[1]["id"]
            assert all(d["result"] == "sent" for d in dup)

            entries = hooks.entries()
            assert len(entries) == 5
            assert len({fields["recording_id"] for _, fields in entries}) == 5
            # the stream's job_id is the match when stored: a name may resolve only later
            by_id = [j["job_id"] for j in jobs if j["conference_id"] in addresses[:3]]
            assert set(by_id) <= {fields.get("job_id") for _, fields in entries}
            for job in jobs:  # the duplicate arrived by now, and was not added
                assert len(stack.api.status(job["job_id"])["recordings"]) == 1
            assert hooks.counts() == Counter({STORED: 5, DUPLICATE: 1})
    finally:
        sim.stop()


def recorded_once(stack: Stack, job: dict[str, str]) -> None:
    """Wait until the job finished and holds its recording: exactly one, of its
    conference (by id; a name's is the id the simulator gave it), in its format."""
    doc = poll(
        lambda: stack.api.status(job["job_id"]),
        lambda d: d["state"] == "finished" and bool(d["recordings"]),
        30,
        f"job {job['job_id']} finished with a recording",
    )
    assert (doc["outcome"]["status"], doc["recording_state"]) == ("succeeded", "saved")
    (recording,) = doc["recordings"]
    (conference,) = [
        c
        for c in httpx.get(f"{stack.system.sim_root}/_sim/conferences").json()
        if c["address"] == job["conference_id"]
    ]
    assert (recording["conference_id"], recording["source"]) == (conference["id"], "webhook")
    assert recording["format"] == job["format"]
    assert job["format"] in recording["recording_urls"]
