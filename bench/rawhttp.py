"""The yardstick for end-to-end: the same requests straight from httpx, no queue.

N threads share one ``httpx.Client`` (as a worker process's threads share one) and post
the very requests a worker would: same path encoding, body, Bearer header, command_ids.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx

from bench import jobs
from bench.procs import API_KEY
from confrec.tasks.telnyx import record_start_path


def raw_rate(base_url: str, count: int, threads: int, tag: str) -> dict[str, Any]:
    """Post ``count`` record_starts from ``threads`` threads; jobs/s and status counts."""
    requests = [
        (
            record_start_path(job.conference_id),
            job.request_body() | {"command_id": str(uuid.uuid4())},
        )
        for job in jobs.validated(jobs.rows(tag, count))
    ]
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    cursor = iter(range(count))
    client = httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"},
        timeout=httpx.Timeout(10.0, connect=3.0),
        limits=httpx.Limits(max_connections=threads, max_keepalive_connections=threads),
    )

    def run() -> None:
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            path, body = requests[i]
            try:
                status = client.post(path, json=body).status_code
            except httpx.HTTPError:
                status = 0
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    pool = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=600)
    elapsed = time.perf_counter() - start
    client.close()
    done = sum(statuses.values())
    return {
        "requests": done,
        "threads": threads,
        "seconds": round(elapsed, 3),
        "rate": round(done / elapsed),
        "statuses": {str(k): v for k, v in statuses.items()},
    }
