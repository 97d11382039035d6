"""Measurement 1: how many validated jobs per second reach the queue.

(a) ``Producer.enqueue_many`` over jobs validated from dicts (validation timed too),
(b) ``run_bulk`` on a JSONL file (validating pass + enqueuing pass), and, against the
same redis-server, ``redis-benchmark -t lpush`` as the ceiling of the server itself;
plus the API from 2 processes at once, each enqueuing half.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import re
import shutil
import subprocess
import time
from contextlib import redirect_stdout
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import redis
from rich.console import Console

from bench import jobs
from confrec.config.settings import Settings
from confrec.worker.batches.bulkfile import validate_file
from confrec.worker.batches.bulkrun import run_bulk
from confrec.worker.exitcodes import ExitCode


def _check_queued(client: redis.Redis, expected: int) -> None:
    queued = int(client.llen(jobs.QUEUE))
    if queued != expected:
        raise RuntimeError(f"expected {expected} messages in the queue, found {queued}")


def api_rate(url: str, count: int, tag: str) -> dict[str, Any]:
    """Producer.enqueue_many over ``count`` jobs validated from dicts inside the timing."""
    client = redis.Redis.from_url(url)
    client.delete(jobs.QUEUE)
    producer = jobs.producer(url)
    producer.enqueue_many(jobs.validated(jobs.rows(f"{tag}-warm", 1)))  # connect, declare
    data = jobs.rows(tag, count)
    start = time.perf_counter()
    producer.enqueue_many(jobs.validated(data))
    elapsed = time.perf_counter() - start
    _check_queued(client, count + 1)
    client.delete(jobs.QUEUE)
    return {"jobs": count, "seconds": round(elapsed, 3), "rate": round(count / elapsed)}


def bulk_rate(url: str, count: int, workdir: Path, tag: str) -> dict[str, Any]:
    """``run_bulk`` (no --wait) on a generated JSONL file: both passes are timed; the
    validating pass alone is timed separately to show its share."""
    client = redis.Redis.from_url(url)
    client.delete(jobs.QUEUE)
    path = jobs.write_jsonl(workdir / f"bulk-{tag}.jsonl", tag, count)
    quiet = Console(file=io.StringIO())
    start = time.perf_counter()
    validate_file(path)
    validate_only = time.perf_counter() - start
    start = time.perf_counter()
    with redirect_stdout(io.StringIO()):  # run_bulk prints the batch line with print()
        code = run_bulk(path, Settings(broker_url=url), out=quiet, err=quiet).code
    elapsed = time.perf_counter() - start
    if code != ExitCode.OK:
        raise RuntimeError(f"run_bulk exited {code}")
    _check_queued(client, count)
    client.delete(jobs.QUEUE)
    path.unlink()
    return {
        "jobs": count,
        "seconds": round(elapsed, 3),
        "rate": round(count / elapsed),
        "validate_pass_seconds": round(validate_only, 3),
    }


def redis_benchmark(port: int, count: int, pipeline: int) -> dict[str, Any]:
    """``redis-benchmark -t lpush -n COUNT -q [-P N]`` against our redis-server, parsed."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {"error": "redis-benchmark not installed"}
    argv = [binary, "-h", "127.0.0.1", "-p", str(port), "-t", "lpush", "-n", str(count), "-q"]
    if pipeline > 1:
        argv += ["-P", str(pipeline)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    found = re.findall(r"LPUSH: ([\d.]+) requests per second", done.stdout)
    redis.Redis(port=port).delete("mylist")
    if not found:
        return {"error": (done.stdout + done.stderr)[-300:]}
    return {"requests": count, "pipeline": pipeline, "rate": round(float(found[-1]))}


def _produce(url: str, tag: str, start: int, count: int, barrier: Barrier, results: Any) -> None:
    """One of the parallel producers: prepare, wait for the others, enqueue, report."""
    producer = jobs.producer(url)
    producer.enqueue_many(jobs.validated(jobs.rows(f"{tag}-warm{start}", 1)))
    data = jobs.rows(tag, count, start)
    barrier.wait(timeout=60)
    began = time.time()
    producer.enqueue_many(jobs.validated(data))
    results.put((began, time.time()))


def parallel_rate(url: str, count: int, processes: int, tag: str) -> dict[str, Any]:
    """``processes`` producer processes each enqueue count/processes jobs at the same time;
    the rate is all jobs over first start → last finish."""
    client = redis.Redis.from_url(url)
    client.delete(jobs.QUEUE)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    share = count // processes
    children = [
        ctx.Process(target=_produce, args=(url, tag, n * share, share, barrier, results))
        for n in range(processes)
    ]
    for child in children:
        child.start()
    try:
        spans = [results.get(timeout=300) for _ in children]
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.terminate()
                child.join(timeout=5)
    elapsed = max(end for _, end in spans) - min(begin for begin, _ in spans)
    _check_queued(client, share * processes + processes)
    client.delete(jobs.QUEUE)
    total = share * processes
    return {
        "jobs": total,
        "processes": processes,
        "seconds": round(elapsed, 3),
        "rate": round(total / elapsed),
    }
