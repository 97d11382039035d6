"""``confrec demo``: the whole system on this machine, then a summary, then everything stopped.

A private redis-server (unless CONFREC_BROKER_URL is set), the simulator playing Telnyx
(its API, its signed ``conference.recording.saved`` and ``conference.ended`` webhooks and
its recordings list), ``confrec serve``, N workers, and a bulk of conferences POSTed to the
HTTP service: mostly conference ids, a few names, and some made faulty on purpose so every
outcome shows up — among them recordings whose webhook never comes (found by the workers'
reconciliation) and recordings Telnyx never saves (``not_saved``). Conferences last
seconds and the grace after their end is seconds, so it ends within a minute or two with
started / saved / not saved / unknown.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from nacl.signing import SigningKey
from rich.console import Console

from confrec.config.settings import Settings
from confrec.worker.batches.watch import BatchWatch, BulkResult
from confrec.worker.exitcodes import ExitCode
from confrec.worker.local.processes import (
    StartError,
    free_port,
    start_redis,
    start_serve,
    start_simulator,
    start_worker,
    wait_until,
)

DEMO_API_KEY = "KEYdemo-simulator-only"
DEMO_TOKEN = "demo-token-local-only"

# One faulty conference every few rows, each kind of answer the simulator can give.
FAULTS = [
    "flaky-2-",  # two 503s, then started: retried
    "ratelimited-1-",  # one 429 with Retry-After: retried after the pause
    "drop-1-",  # connection dropped once: retried
    "missing-",  # 404: rejected at once
    "ended-",  # 422 conference ended: rejected at once
]
#: The saved webhook never comes: reconciliation finds the recording in Telnyx's list.
NO_SAVED_HOOK = "nosavedhook-"
#: Telnyx never saves the recording: after the grace, the job is ``not_saved``.
UNSAVED = "unsaved-1-"
#: Short lives, so the demo ends in a minute or two: each conference lasts this long, the
#: grace after its end is this long, and a started job's conference is first looked at
#: this soon.
CONFERENCE_S = 6
GRACE_S = 4
POLL_S = 3
#: How long the demo waits for outcomes and recordings together.
WAIT_S = 150.0


def sample_rows(count: int) -> list[dict[str, object]]:
    """``count`` jobs: mostly conference ids (UUIDs, as Telnyx's); every 10th faulty; in
    every 20, a name, a conference whose saved webhook never comes, and one whose
    recording is never saved. Prefixes make names (a UUID has none), resolved by the
    workers to the conference's id."""
    rows: list[dict[str, object]] = [
        {"conference_id": "board meeting / Q4 #1 café?", "format": "wav"}
    ]
    for i in range(1, count):
        conference = str(uuid.uuid4())
        if i % 10 == 9:
            conference = f"{FAULTS[(i // 10) % len(FAULTS)]}conf-{i:05d}"
        elif i % 20 in (2, 5, 15):
            prefix = {2: "", 5: NO_SAVED_HOOK, 15: UNSAVED}[i % 20]
            conference = f"{prefix}conf-{i:05d}-{uuid.uuid4().hex[:6]}"
        row: dict[str, object] = {"conference_id": conference, "format": "mp3"}
        if i % 3 == 0:
            row |= {"channels": "dual", "play_beep": True}
        rows.append(row)
    return rows[:count]


@dataclass(frozen=True)
class Shown:
    """What the demo set out to show, and what it saw."""

    unsaved_started: int
    """Started jobs on ``unsaved-`` conferences: each must end ``not_saved``."""
    reconciled: list[str]
    """Lines for recordings found by reconciliation (no webhook came)."""
    expect_reconciled: bool


def run_demo(
    settings: Settings, *, jobs: int, workers: int, out: Console, err: Console
) -> ExitCode:
    """Runs the demo on ``settings`` (a private redis-server unless CONFREC_BROKER_URL is
    set); returns the exit code."""
    settings = settings.model_copy(update={"recording_grace_s": float(GRACE_S)})
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="confrec-demo-") as tmp:
        workdir = Path(tmp)
        try:
            if "CONFREC_BROKER_URL" not in os.environ:
                redis_proc = start_redis(workdir)
                stack.callback(redis_proc.stop)
                settings = settings.model_copy(update={"broker_url": redis_proc.extra["url"]})
                err.print(f"redis-server started at {settings.broker_url}", highlight=False)
            root = _start_parts(stack, workdir, settings, workers, err)
        except StartError as exc:
            err.print(f"error: {exc}", markup=False, highlight=False)
            return ExitCode.INVALID
        watch = BatchWatch(settings, out, err)
        mark = watch.mark()
        err.print(f"POST {root}/v1/jobs/bulk: {jobs} conferences", highlight=False)
        started = time.monotonic()
        response = httpx.post(
            f"{root}/v1/jobs/bulk",
            json=sample_rows(jobs),
            headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
            timeout=60,
        )
        if response.status_code != 202:
            err.print(f"error: confrec serve answered {response.status_code}: {response.text}")
            return ExitCode.INVALID
        accepted = response.json()
        result = watch.follow(accepted["batch"], jobs, mark, wait_timeout=WAIT_S, until_saved=True)
        shown = _look(root, accepted["jobs"])
        out.print(
            f"{jobs} jobs in {time.monotonic() - started:.1f}s, enqueued over HTTP. Some "
            "conferences were made faulty on purpose: flaky-/drop- ones were retried and "
            "started; each ratelimited- one got a 429 with Retry-After: 1 that paused the "
            "whole fleet for a second; missing-/ended- ones were rejected after one attempt, "
            "as Telnyx would. Recordings were saved a second after they started and announced "
            "by a signed conference.recording.saved webhook to confrec serve — except on "
            f"{NO_SAVED_HOOK} conferences, whose webhook never came: the workers found those "
            f"recordings in Telnyx's list once the conference ended; and on {UNSAVED} ones, "
            f"which Telnyx never saved: {GRACE_S}s after their conference ended, with nothing "
            "listed, those jobs are not_saved. Conference names were resolved to their ids.",
            highlight=False,
        )
        for line in shown.reconciled[:3]:
            out.print(line, highlight=False)
        counted = _batch_counts(root, accepted["batch"], result.states or {})
        out.print(_batch_line(accepted["batch"], counted), highlight=False)
        code = verdict(result, jobs, err, shown)
        if code == ExitCode.OK and counted["recordings"] != _all_states(result.states or {}):
            err.print(f"error: the batch's recording counts differ: {counted['recordings']}")
            return ExitCode.NOT_SAVED
        return code


def _start_parts(
    stack: ExitStack, workdir: Path, settings: Settings, workers: int, err: Console
) -> str:
    """The simulator (webhooks to serve, signed with a key made here), serve and the
    workers, each stopped when ``stack`` closes; returns serve's URL."""
    key = SigningKey.generate()
    serve_port = free_port()
    webhook_url = f"http://127.0.0.1:{serve_port}/webhooks/telnyx"
    seed = base64.b64encode(bytes(key)).decode()
    webhooks = ["--webhook-url", webhook_url, "--recording-seconds", "1"]
    webhooks += ["--conference-seconds", str(CONFERENCE_S)]
    sim = start_simulator(
        workdir,
        api_key=DEMO_API_KEY,
        latency_ms=20,
        extra_args=webhooks,
        env={"CONFREC_SIM_SIGNING_KEY": seed},  # by env: argv is world-readable
    )
    stack.callback(sim.stop)
    err.print(f"simulator at {sim.extra['base_url']} (20 ms latency)", highlight=False)
    broker = {"CONFREC_BROKER_URL": settings.broker_url, "CONFREC_RECORDING_GRACE_S": str(GRACE_S)}
    serve = start_serve(
        workdir,
        broker
        | {
            "CONFREC_API_TOKENS": DEMO_TOKEN,
            "TELNYX_PUBLIC_KEY": base64.b64encode(bytes(key.verify_key)).decode(),
        },
        port=serve_port,
    )
    stack.callback(serve.stop)
    err.print(f"confrec serve at {serve.extra['root']}, webhooks at {webhook_url}")
    env = broker | {
        "TELNYX_API_KEY": DEMO_API_KEY,
        "TELNYX_BASE_URL": sim.extra["base_url"],
        "CONFREC_RECONCILE_POLL_S": str(POLL_S),
    }
    for n in range(1, workers + 1):
        proc = start_worker(workdir, f"demo{n}", env, ["--concurrency", "8"])
        stack.callback(proc.stop)
    err.print(f"{workers} workers ready", highlight=False)
    return serve.extra["root"]


_RECORDING_STATES = ("pending", "saved", "not_saved", "unknown", "ambiguous")


def _all_states(states: dict[str, int]) -> dict[str, int]:
    return {state: states.get(state, 0) for state in _RECORDING_STATES}


def _batch_counts(root: str, batch: str, states: dict[str, int]) -> dict[str, Any]:
    """The batch as ``GET /v1/batches/{id}`` shows it, once its recording counts agree
    with the states the jobs' statuses showed (the worker's drain may be a second
    behind a webhook's count), or after 10 s."""
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    found: dict[str, Any] = {}
    with httpx.Client(base_url=root, headers=headers, timeout=10) as client:

        def agrees() -> bool:
            found.update(client.get(f"/v1/batches/{batch}").json())
            return bool(found.get("recordings") == _all_states(states))

        with contextlib.suppress(StartError):
            wait_until(agrees, 10, "the batch's recording counts", interval=0.2)
    return found


def _batch_line(batch: str, doc: dict[str, Any]) -> str:
    statuses, recordings = doc.get("statuses", {}), doc.get("recordings", {})
    return (
        f"batch {batch}: {doc.get('total')} jobs, {statuses.get('succeeded')} succeeded "
        f"({doc.get('already_done')} already done), {statuses.get('failed')} failed; "
        f"recordings {recordings.get('saved')} saved, {recordings.get('not_saved')} not "
        f"saved, {recordings.get('pending')} pending (GET /v1/batches/{batch}, or "
        f"confrec batch {batch} --failed)"
    )


def _look(root: str, jobs: list[dict[str, Any]]) -> Shown:
    """Read back, as any client would (``GET /v1/jobs/{id}``), what the demo set out to
    show: the unsaved- jobs that started, and the recordings reconciliation found."""
    unsaved, reconciled = 0, []
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    with httpx.Client(base_url=root, headers=headers, timeout=10) as client:
        for job in jobs:
            status = client.get(f"/v1/jobs/{job['job_id']}").json()
            if status.get("recording_state") is None:
                continue
            unsaved += job["conference_id"].startswith(UNSAVED)
            for rec in status["recordings"]:
                if rec["source"] == "reconciliation":
                    reconciled.append(
                        f"found by reconciliation: job {job['job_id']} "
                        f"{job['conference_id']!r} recording {rec['recording_id']}"
                    )
    expect = any(j["conference_id"].startswith(NO_SAVED_HOOK) for j in jobs)
    return Shown(unsaved, reconciled, expect)


def verdict(result: BulkResult, jobs: int, err: Console, shown: Shown | None = None) -> ExitCode:
    """Failed jobs and not_saved recordings are the demo's point; a missing outcome, a
    recording still pending or unknown, ambiguous, or not found by reconciliation is not."""
    if result.code == ExitCode.TIMED_OUT:
        missing = (
            f"{result.missing} of {jobs} outcomes missing"
            if result.missing
            else f"{result.unsaved} started recordings not reported saved"
        )
        err.print(f"error: demo incomplete: {missing}", highlight=False)
        return result.code
    if result.code not in (ExitCode.OK, ExitCode.JOB_FAILED, ExitCode.NOT_SAVED):
        return result.code
    states = result.states or {}
    wrong = []
    if shown is not None and states.get("not_saved", 0) != shown.unsaved_started:
        wrong.append(
            f"{states.get('not_saved', 0)} not saved, expected {shown.unsaved_started} "
            f"(the {UNSAVED} conferences)"
        )
    wrong += [f"{states[s]} {s}" for s in ("unknown", "ambiguous") if states.get(s)]
    if shown is not None and shown.expect_reconciled and not shown.reconciled:
        wrong.append("no recording found by reconciliation")
    if wrong:
        err.print(f"error: demo did not end as it should: {'; '.join(wrong)}", highlight=False)
        return ExitCode.NOT_SAVED
    if shown is not None and shown.unsaved_started:
        err.print(
            f"the {shown.unsaved_started} not saved are the demo's {UNSAVED} conferences, "
            "as intended",
            highlight=False,
        )
    return ExitCode.OK
