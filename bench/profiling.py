"""Where the time goes: cProfile of the enqueue path, py-spy (if installed) of a worker.

Profilers slow what they watch, so no rate here is compared with an unprofiled one; only
the shares are reported.
"""

from __future__ import annotations

import cProfile
import pstats
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from bench import jobs

# (label, file suffix, function name): cumulative time of that function.
ENQUEUE_PARTS = [
    ("pydantic validation (model_validate)", "pydantic/main.py", "model_validate"),
    ("fix_command_id (model_copy + uuid4)", "tasks/publishing/producer.py", "fix_command_id"),
    ("job.task_kwargs (model_dump)", "tasks/job.py", "task_kwargs"),
    ("Producer._publish, total (one message)", "tasks/publishing/producer.py", "_publish"),
    ("  of which amqp.as_task_v2 (Celery builds it)", "celery/app/amqp.py", "as_task_v2"),
    ("  of which kombu Producer._publish", "kombu/messaging.py", "_publish"),
    ("    of which kombu Producer._prepare (serialize)", "kombu/messaging.py", "_prepare"),
    (
        "    of which Channel.basic_publish (envelope)",
        "kombu/transport/virtual/base.py",
        "basic_publish",
    ),
    ("redis pipeline execute (batch flush)", "redis/client.py", "execute"),
    ("celery app.send_task (not used by Producer now)", "celery/app/base.py", "send_task"),
    ("json.dumps (all)", "json/__init__.py", "dumps"),
]


def profile_enqueue(url: str, count: int) -> dict[str, Any]:
    """cProfile ``count`` validated jobs through Producer.enqueue_many."""
    client = redis.Redis.from_url(url)
    client.delete(jobs.QUEUE)
    producer = jobs.producer(url)
    producer.enqueue_many(jobs.validated(jobs.rows("prof-warm", 1)))
    data = jobs.rows("prof", count)
    profiler = cProfile.Profile()
    profiler.enable()
    producer.enqueue_many(jobs.validated(data))
    profiler.disable()
    client.delete(jobs.QUEUE)
    collected: Any = pstats.Stats(profiler)
    stats: Any = collected.stats  # {(file, line, fn): (cc, nc, tt, ct, callers)}
    total = sum(tt for (_, _, tt, _, _) in stats.values())
    parts: dict[str, float] = {}
    for label, suffix, name in ENQUEUE_PARTS:
        cum = sum(
            ct
            for (file, _, fn), (_, _, _, ct, _) in stats.items()
            if fn == name and file.endswith(suffix)
        )
        parts[label] = round(cum / total, 3)
    by_self = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    top = [
        {"function": f"{_short(file)}:{line}({fn})", "self_share": round(tt / total, 3)}
        for (file, line, fn), (_, _, tt, _, _) in by_self
    ]
    return {"jobs": count, "profiled_seconds": round(total, 3), "shares": parts, "top_self": top}


def _short(path: str) -> str:
    marker = "site-packages/"
    return path.split(marker, 1)[1] if marker in path else path.replace(str(Path.cwd()), ".")


# Inclusive shares of GIL-holding samples in a worker, by frame pattern.
WORKER_PARTS = [
    ("task body RecordStartHandler.handle", "RecordStartHandler.handle "),
    ("  HTTP: TelnyxClient.record_start (httpx)", "TelnyxClient.record_start "),
    ("  JobLedger.begin + publish (Lua)", "JobLedger."),
    ("  FleetThrottle.acquire (Lua, records the attempt)", "FleetThrottle.acquire "),
    ("  outcome model + JSON (pydantic)", "_final_outcome "),
    ("celery tracer around the task (fast_trace_task)", "fast_trace_task "),
    ("consumer: receive (BRPOP read + deliver)", "Channel._brpop_read "),
    ("consumer: task events flush (Flower)", "_flush_events "),
    ("consumer: thread pool submit", "ThreadPoolExecutor.submit "),
    ("redis-py, anywhere", "(redis/"),
    ("logging, anywhere", "(logging/"),
]


def pyspy_available() -> bool:
    return _pyspy() is not None


def _pyspy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start_pyspy(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy record --gil on ``pid`` for ``seconds`` (raw stacks to ``out``), or None."""
    binary = _pyspy()
    if binary is None:
        return None
    argv = [binary, "record", "-p", str(pid), "-d", str(seconds), "-r", "100", "--gil"]
    argv += ["--nonblocking", "-f", "raw", "-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_pyspy(path: Path) -> dict[str, Any]:
    """Shares of samples (GIL held) per WORKER_PARTS pattern, and the top self frames."""
    if not path.exists():
        return {"error": "py-spy wrote nothing"}
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        total += count
        for label, pattern in WORKER_PARTS:
            if pattern in stack:
                inclusive[label] += count
        own[re.sub(r":\d+\)$", ")", stack.rsplit(";", 1)[-1])] += count
    if not total:
        return {"error": "no samples"}
    return {
        "samples": total,
        "shares": {label: round(inclusive[label] / total, 3) for label, _ in WORKER_PARTS},
        "top_self": [{"frame": f, "share": round(c / total, 3)} for f, c in own.most_common(10)],
    }
