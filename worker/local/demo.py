"""``confrec demo``: the whole system on this machine, then a summary, then everything stopped.

A private redis-server (unless CONFREC_BROKER_URL is set), the simulator playing Telnyx
(its API and its signed ``conference.recording.saved`` webhooks), ``confrec serve``, N
workers, and a bulk of conferences POSTed to the HTTP service, of which some are made
faulty on purpose so every outcome shows up. It ends when every started recording has
been reported saved through the webhook: "N started, N saved".
"""

from __future__ import annotations

import base64
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

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


def sample_rows(count: int) -> list[dict[str, object]]:
    """``count`` jobs: mostly healthy conferences, every 10th one faulty."""
    rows: list[dict[str, object]] = [
        {"conference_id": "board meeting / Q4 #1 café?", "format": "wav"}
    ]
    for i in range(1, count):
        prefix = FAULTS[(i // 10) % len(FAULTS)] if i % 10 == 9 else ""
        row: dict[str, object] = {"conference_id": f"{prefix}conf-{i:05d}", "format": "mp3"}
        if i % 3 == 0:
            row |= {"channels": "dual", "play_beep": True}
        rows.append(row)
    return rows[:count]


def run_demo(
    settings: Settings, *, jobs: int, workers: int, out: Console, err: Console
) -> ExitCode:
    """Runs the demo on ``settings`` (a private redis-server unless CONFREC_BROKER_URL is
    set); returns the exit code."""
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
        result = watch.follow(response.json()["batch"], jobs, mark, until_saved=True)
        out.print(
            f"{jobs} jobs in {time.monotonic() - started:.1f}s, enqueued over HTTP. Some "
            "conferences were made faulty on purpose: flaky-/drop- ones were retried and "
            "started; each ratelimited- one got a 429 with Retry-After: 1 that paused the "
            "whole fleet for a second; missing-/ended- ones were rejected after one attempt, "
            "as Telnyx would. Every recording started was saved a second later and announced "
            "by a signed conference.recording.saved webhook to confrec serve.",
            highlight=False,
        )
        return verdict(result, jobs, err)


def _start_parts(
    stack: ExitStack, workdir: Path, settings: Settings, workers: int, err: Console
) -> str:
    """The simulator (webhooks to serve, signed with a key made here), serve and the
    workers, each stopped when ``stack`` closes; returns serve's URL."""
    key = SigningKey.generate()
    serve_port = free_port()
    webhook_url = f"http://127.0.0.1:{serve_port}/webhooks/telnyx"
    seed = base64.b64encode(bytes(key)).decode()
    webhooks = ["--webhook-url", webhook_url, "--recording-seconds", "1", "--signing-key", seed]
    sim = start_simulator(workdir, api_key=DEMO_API_KEY, latency_ms=20, extra_args=webhooks)
    stack.callback(sim.stop)
    err.print(f"simulator at {sim.extra['base_url']} (20 ms latency)", highlight=False)
    broker = {"CONFREC_BROKER_URL": settings.broker_url}
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
    env = broker | {"TELNYX_API_KEY": DEMO_API_KEY, "TELNYX_BASE_URL": sim.extra["base_url"]}
    for n in range(1, workers + 1):
        proc = start_worker(workdir, f"demo{n}", env, ["--concurrency", "8"])
        stack.callback(proc.stop)
    err.print(f"{workers} workers ready", highlight=False)
    return serve.extra["root"]


def verdict(result: BulkResult, jobs: int, err: Console) -> ExitCode:
    """Failed jobs are the demo's point; a missing outcome, or any other trouble, is not."""
    if result.code == ExitCode.TIMED_OUT:
        missing = (
            f"{result.missing} of {jobs} outcomes missing"
            if result.missing
            else f"{result.unsaved} started recordings not reported saved"
        )
        err.print(f"error: demo incomplete: {missing}", highlight=False)
    fine = (ExitCode.OK, ExitCode.JOB_FAILED, ExitCode.NOT_SAVED)
    return ExitCode.OK if result.code in fine else result.code
