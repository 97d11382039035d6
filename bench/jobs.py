"""Job rows the benchmarks enqueue, and reading their outcomes back from the results stream."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from confrec.config.settings import Settings
from confrec.tasks.job import RecordStartJob
from confrec.tasks.publishing.producer import Producer
from confrec.worker.app import create_app

STREAM = Settings.model_fields["results_stream"].default
QUEUE = Settings.model_fields["queue"].default


def row(tag: str, i: int) -> dict[str, Any]:
    """One realistic job: unique conference, a few optional fields set on some rows."""
    fields: dict[str, Any] = {"conference_id": f"bench-{tag}-{i:07d}", "format": "mp3"}
    if i % 3 == 0:
        fields |= {"channels": "dual", "play_beep": True}
    if i % 5 == 0:
        fields |= {"region": "Europe"}
    return fields


def rows(tag: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    return [row(tag, i) for i in range(start, start + count)]


def write_jsonl(path: Path, tag: str, count: int) -> Path:
    with path.open("w") as f:
        for i in range(count):
            f.write(json.dumps(row(tag, i)) + "\n")
    return path


def producer(url: str) -> Producer:
    return Producer(create_app(Settings(broker_url=url)), QUEUE)


def validated(data: list[dict[str, Any]]) -> Iterator[RecordStartJob]:
    """Jobs validated lazily, so validation happens inside the timed enqueue."""
    return (RecordStartJob.model_validate(r) for r in data)


def read_outcomes(
    client: redis.Redis,
    count: int,
    timeout_s: float,
    *,
    after: str = "0-0",
    on_entry: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Outcome JSONs from the stream until ``count`` arrived or ``timeout_s`` passed."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    last = after
    while len(found) < count and time.monotonic() < deadline:
        reply: Any = client.xread({STREAM: last}, count=2000, block=200)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id
                found.append(json.loads(fields[b"outcome"]))
        if on_entry is not None:
            on_entry(len(found))
    return found


def timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def latencies_ms(outcomes: list[dict[str, Any]]) -> list[float]:
    """enqueued_at → finished_at of each outcome, milliseconds (ms resolution)."""
    return sorted(
        (timestamp(o["finished_at"]) - timestamp(o["enqueued_at"])) * 1000
        for o in outcomes
        if o.get("enqueued_at")
    )


def last_finished(outcomes: list[dict[str, Any]]) -> float:
    return max(timestamp(o["finished_at"]) for o in outcomes)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return round(sorted_values[rank], 1)


def statuses(outcomes: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        key = f"{o['status']}/{o['reason']}"
        counts[key] = counts.get(key, 0) + 1
    return counts
