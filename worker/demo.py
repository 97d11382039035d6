"""``confrec demo``: the whole system on this machine, then a summary, then everything stopped.

A private redis-server (unless CONFREC_BROKER_URL is set), the simulator, N workers, and a
bulk of conferences of which some are made faulty on purpose, so every outcome shows up.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console

from confrec.config.settings import Settings
from confrec.worker.bulkrun import BulkResult, run_bulk
from confrec.worker.exitcodes import ExitCode
from confrec.worker.localstack import StartError, start_redis, start_simulator, start_worker

DEMO_API_KEY = "KEYdemo-simulator-only"

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
            sim = start_simulator(workdir, api_key=DEMO_API_KEY, latency_ms=20)
            stack.callback(sim.stop)
            err.print(f"simulator at {sim.extra['base_url']} (20 ms latency)", highlight=False)
            env = {
                "CONFREC_BROKER_URL": settings.broker_url,
                "TELNYX_API_KEY": DEMO_API_KEY,
                "TELNYX_BASE_URL": sim.extra["base_url"],
            }
            for n in range(1, workers + 1):
                proc = start_worker(workdir, f"demo{n}", env, ["--concurrency", "8"])
                stack.callback(proc.stop)
            err.print(f"{workers} workers ready", highlight=False)
        except StartError as exc:
            err.print(f"error: {exc}", markup=False, highlight=False)
            return ExitCode.INVALID
        sample = workdir / "conferences.jsonl"
        sample.write_text("".join(json.dumps(r) + "\n" for r in sample_rows(jobs)))
        err.print(f"bulk-enqueueing {jobs} conferences ({sample.name})", highlight=False)
        started = time.monotonic()
        result = run_bulk(sample, settings, wait=True, out=out, err=err)
        out.print(
            f"{jobs} jobs in {time.monotonic() - started:.1f}s. Some conferences were made "
            "faulty on purpose: flaky-/drop- ones were retried and started; each "
            "ratelimited- one got a 429 with Retry-After: 1 that paused the whole fleet for "
            "a second; missing-/ended- ones were rejected after one attempt, as Telnyx would.",
            highlight=False,
        )
        return verdict(result, jobs, err)


def verdict(result: BulkResult, jobs: int, err: Console) -> ExitCode:
    """Failed jobs are the demo's point; a missing outcome, or any other trouble, is not."""
    if result.code == ExitCode.TIMED_OUT:
        err.print(
            f"error: demo incomplete: {result.missing} of {jobs} outcomes missing", highlight=False
        )
    return ExitCode.OK if result.code in (ExitCode.OK, ExitCode.JOB_FAILED) else result.code
