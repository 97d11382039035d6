"""Measurement 8 (issue 21): what a bulk's body costs ``confrec serve`` in memory.

Each body is POSTed to ``/v1/jobs/bulk`` of a fresh serve (warmed by one small bulk), and
the serve tree's peak RSS (VmHWM, every process) is set against its RSS before the
request, side by side with the body's size. The maximal bulk: 10,000 jobs, every text
field at its longest, the ids fully ``\\u``-escaped, just under the 32 MiB limit; the
target is a peak growth of at most 4x its body + 50 MiB (it was ~27x before the body was
parsed as it arrives: 830 MiB for 31 MiB). The plain bulk (10,000 short jobs) shows what
an ordinary one costs. Both are accepted (202) and enqueued, so enqueueing counts too.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from typing import Any

import httpx

from bench.proc_stats import memory, peak_rss_mib
from bench.procs import Rig
from confrec.service.bulk import MAX_BULK_BYTES, MAX_BULK_JOBS
from confrec.worker.local.processes import start_serve

TOKEN = "bench-token"
MIB = 1024 * 1024
TARGET_FACTOR, TARGET_SLACK_MIB = 4, 50


def bodies_phase(rig: Rig) -> dict[str, Any]:
    return {"maximal": _peak(rig, _maximal()), "plain": _peak(rig, _plain())}


def _maximal() -> bytes:
    escaped = "".join(f"\\u{0x100 + n % 0x100:04x}" for n in range(256))  # 6 bytes each
    jobs = [
        f'{{"conference_id": "{escaped[:-6]}{n % 10}", "command_id": "{escaped[:-6]}{n % 10}", '
        f'"custom_file_name": "{"f" * 40}", "format": "wav", "channels": "dual", '
        f'"play_beep": false, "trim": "trim-silence", "region": "Middle East"}}'
        for n in range(MAX_BULK_JOBS)
    ]
    body = ("[" + ", ".join(jobs) + "]").encode()
    assert len(body) <= MAX_BULK_BYTES, len(body)
    return body


def _plain() -> bytes:
    jobs = [{"conference_id": f"bulk-{n:06d}", "format": "wav"} for n in range(MAX_BULK_JOBS)]
    return json.dumps(jobs).encode()


def _peak(rig: Rig, body: bytes) -> dict[str, Any]:
    rig.flush()
    env = {"CONFREC_BROKER_URL": rig.url, "CONFREC_API_TOKENS": TOKEN}
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with ExitStack() as stack:
        serve = start_serve(rig.workdir, env)
        stack.callback(serve.stop)
        with httpx.Client(base_url=serve.extra["root"], headers=auth, timeout=120) as client:
            client.post("/v1/jobs/bulk", content=b'[{"conference_id": "w", "format": "wav"}]')
            before = memory(serve.pid).rss_mib
            t0 = time.perf_counter()
            answer = client.post("/v1/jobs/bulk", content=body)
            seconds = time.perf_counter() - t0
            peak = peak_rss_mib(serve.pid)
    rig.flush()
    answer.raise_for_status()
    body_mib = len(body) / MIB
    growth = peak - before
    return {
        "jobs": len(answer.json()["jobs"]),
        "body_mib": round(body_mib, 1),
        "rss_before_mib": before,
        "peak_mib": peak,
        "growth_mib": round(growth, 1),
        "growth_per_body": round(growth / body_mib, 2),
        "bound_mib": round(TARGET_FACTOR * body_mib + TARGET_SLACK_MIB, 1),
        "seconds": round(seconds, 2),
    }


def bodies_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for name in ("maximal", "plain"):
        one = r[name]
        ok = one["growth_mib"] <= one["bound_mib"]
        rows.append(
            (
                f"POST /v1/jobs/bulk {name} ({one['jobs']:,} jobs, {one['body_mib']} MiB) "
                "serve peak growth",
                f"{one['growth_mib']} MiB ({one['growth_per_body']}x body)",
                f"≤ {TARGET_FACTOR}x body + {TARGET_SLACK_MIB} MiB",
                f"{'met' if ok else 'MISSED'} (bound {one['bound_mib']} MiB; "
                f"{one['seconds']} s to the 202)",
            )
        )
    return rows
