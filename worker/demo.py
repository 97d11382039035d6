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

from config.settings import Settings
from worker.bulkrun import EXIT_FAILED, run_bulk
from worker.localstack import StartError, start_redis, start_simulator, start_worker

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


def run_demo(*, jobs: int, workers: int, out: Console, err: Console) -> int:
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="confrec-demo-") as tmp:
        workdir = Path(tmp)
        try:
            broker = os.environ.get("CONFREC_BROKER_URL")
            if broker is None:
                redis_proc = start_redis(workdir)
                stack.callback(redis_proc.stop)
                broker = redis_proc.extra["url"]
                err.print(f"redis-server started at {broker}", highlight=False)
            sim = start_simulator(workdir, api_key=DEMO_API_KEY, latency_ms=20)
            stack.callback(sim.stop)
            err.print(f"simulator at {sim.extra['base_url']} (20 ms latency)", highlight=False)
            env = {
                "CONFREC_BROKER_URL": broker,
                "TELNYX_API_KEY": DEMO_API_KEY,
                "TELNYX_BASE_URL": sim.extra["base_url"],
            }
            for n in range(1, workers + 1):
                proc = start_worker(workdir, f"demo{n}", env, ["--concurrency", "8"])
                stack.callback(proc.stop)
            err.print(f"{workers} workers ready", highlight=False)
        except StartError as exc:
            err.print(f"error: {exc}", markup=False, highlight=False)
            return 2
        sample = workdir / "conferences.jsonl"
        sample.write_text("".join(json.dumps(r) + "\n" for r in sample_rows(jobs)))
        err.print(f"bulk-enqueueing {jobs} conferences ({sample.name})", highlight=False)
        started = time.monotonic()
        settings = Settings(broker_url=broker)
        code = run_bulk(sample, settings, wait=True, wait_timeout=300, out=out, err=err)
        out.print(
            f"{jobs} jobs in {time.monotonic() - started:.1f}s. Some conferences were made "
            "faulty on purpose: flaky-/drop- ones were retried and started; each "
            "ratelimited- one got a 429 with Retry-After: 1 that paused the whole fleet for "
            "a second; missing-/ended- ones were rejected after one attempt, as Telnyx would.",
            highlight=False,
        )
        # Failed jobs are expected in the demo; only a missing outcome is a demo failure.
        return 0 if code in (0, EXIT_FAILED) else code
