"""The results stream is trimmed by age and length, and a consumer group that fell behind
further than that is told what it lost: ``confrec stats``, the worker's metrics collector
and a one-time warning of ``confrec results --group`` (Redis never says so itself)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from typing import Any

import redis

from confrec.tasks.job import Outcome
from confrec.tasks.store.ledger import JobLedger
from confrec.tasks.store.stream_lag import group_lags
from confrec.worker.local.processes import CONFREC
from confrec.worker.metrics_server import ResultsGroups

#: Small stream nodes, so that approximate trimming (``~``) trims close to the bound.
NODE_ENTRIES = "4"


def publish(ledger: JobLedger, count: int) -> None:
    for _ in range(count):
        job = uuid.uuid4().hex
        ledger.publish(
            Outcome(job_id=job, conference_id="c", command_id=job, status="succeeded", reason="ok")
        )


def confrec(url: str, stream: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONFREC_BROKER_URL": url, "CONFREC_RESULTS_STREAM": stream}
    return subprocess.run(
        [*CONFREC, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_group_that_fell_behind_the_trimming_is_told_what_it_lost(
    client: redis.Redis, own_redis_url: str
) -> None:
    client.config_set("stream-node-max-entries", NODE_ENTRIES)
    stream = f"results-{uuid.uuid4().hex[:8]}"
    ledger = JobLedger(client, stream, maxlen=20)
    publish(ledger, 5)
    first = confrec(own_redis_url, stream, "results", "--group", "slow", "--count", "5")
    assert first.returncode == 0 and len(first.stdout.splitlines()) == 5, first.stderr
    assert "warning" not in first.stderr

    publish(ledger, 200)  # the group reads none of these before most are trimmed
    length = int(client.xlen(stream))
    assert length < 40

    stats = confrec(own_redis_url, stream, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    (group,) = json.loads(stats.stdout)["groups"]
    assert group == {"group": "slow", "pending": 0, "behind": length, "lost": 200 - length}
    shown = confrec(own_redis_url, stream, "stats")
    assert "lost to trimming" in shown.stdout and str(200 - length) in shown.stdout

    families = {f.name: f for f in ResultsGroups(lambda: group_lags(client, stream)).collect()}
    lost = families["confrec_results_group_lost"].samples
    assert [(s.labels, s.value) for s in lost] == [({"group": "slow"}, 200 - length)]

    late = confrec(own_redis_url, stream, "results", "--group", "slow", "--count", "500")
    assert late.returncode == 0, late.stderr
    assert len(late.stdout.splitlines()) == length  # all that was left
    warnings = [line for line in late.stderr.splitlines() if line.startswith("warning")]
    assert warnings == [
        f"warning: consumer group slow lost {200 - length} outcome(s), trimmed from the "
        "stream before it read them (CONFREC_RESULTS_RETENTION_S, CONFREC_RESULTS_MAXLEN)"
    ]


def test_outcomes_older_than_the_retention_are_trimmed(client: redis.Redis) -> None:
    client.config_set("stream-node-max-entries", "1")
    stream = f"results-{uuid.uuid4().hex[:8]}"
    now_ms = int(time.time() * 1000)  # the test's Redis runs on this machine's clock
    old = Outcome(
        job_id="old", conference_id="c", command_id="x", status="failed", reason="invalid"
    )
    client.xadd(stream, {"outcome": old.to_json()}, id=f"{now_ms - 120_000}-0")
    client.xadd(stream, {"outcome": old.to_json()}, id=f"{now_ms - 30_000}-0")
    publish(JobLedger(client, stream, retention_s=60), 1)
    rows: Any = client.xrange(stream)
    kept = [entry_id for entry_id, _ in rows]
    assert len(kept) == 2 and kept[0] == f"{now_ms - 30_000}-0"
