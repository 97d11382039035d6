"""ResultsStream: reading the Redis Stream of outcomes — by range, following, counting, or
as a consumer group (taking over what a crashed consumer left unacknowledged). Outcomes are
written by ``confrec.tasks.store.ledger.JobLedger.publish``, once per job. The plain stream reads
(newest id, follow) serve the recordings stream too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis

from confrec.tasks.job import Outcome


@dataclass(frozen=True)
class StreamEntry:
    entry_id: str
    outcome: Outcome


class ResultsStream:
    """Read outcomes: the newest, new ones as they come, counts over a window, or a
    consumer group's share. ``client`` decodes replies (``decode_responses=True``)."""

    def __init__(self, client: redis.Redis, stream: str) -> None:
        self._redis = client
        self.stream = stream

    @property
    def client(self) -> redis.Redis:
        return self._redis

    def trimmed_past(self, entry_id: str) -> bool:
        """Whether the stream was trimmed past ``entry_id``: its oldest entry is newer,
        so entries a reader at ``entry_id`` had not read yet may be gone."""
        oldest: Any = self._redis.xrange(self.stream, count=1)
        return bool(oldest) and entry_order(oldest[0][0]) > entry_order(entry_id)

    def last_id(self) -> str:
        """The newest entry's id ("0-0" when empty): read after it to see only new outcomes."""
        return last_entry_id(self._redis, self.stream)

    def latest(self, count: int) -> list[StreamEntry]:
        """The newest ``count`` outcomes, oldest first."""
        rows: Any = self._redis.xrevrange(self.stream, count=count)
        return [_entry(entry_id, fields) for entry_id, fields in reversed(rows)]

    def follow(self, after: str = "$", *, block_ms: int = 1000) -> Iterator[StreamEntry | None]:
        """Yield outcomes newer than ``after`` as they arrive; ``None`` after each idle block,
        so callers can check their own deadlines and refresh progress."""
        for row in follow_entries(self._redis, self.stream, after, block_ms=block_ms):
            yield None if row is None else _entry(*row)

    def counts(self, window_s: int, *, page: int = 1000) -> dict[str, int]:
        """Outcomes appended in the last ``window_s`` seconds, by ``status/reason``.

        The window is on Redis's clock, which stamps the entry ids; the stream is read
        ``page`` entries at a time, so a large one never arrives in one reply.
        """
        seconds, micros = self._redis.time()
        start = f"{int(seconds) * 1000 + int(micros) // 1000 - window_s * 1000}-0"
        counts = Counter(f"{o.status}/{o.reason}" for o in self.outcomes(start, page=page))
        return dict(sorted(counts.items()))

    def outcomes(
        self, start: str = "-", *, containing: str | None = None, page: int = 1000
    ) -> Iterator[Outcome]:
        """Every outcome from entry id ``start`` on (``-``: the oldest), read ``page``
        entries at a time so a large stream never arrives in one reply. ``containing``:
        only entries whose JSON holds that text (checked before it is parsed); an entry
        that is not an outcome is skipped."""
        while True:
            rows: Any = self._redis.xrange(self.stream, min=start, max="+", count=page)
            for _, fields in rows:
                raw = fields.get("outcome", "")
                if containing is not None and containing not in raw:
                    continue
                try:
                    yield Outcome.model_validate_json(raw)
                except ValueError:
                    continue
            if len(rows) < page:
                return
            start = "(" + rows[-1][0]

    def batch_jobs(self, batch: str) -> list[str]:
        """The ids of the batch's jobs that have an outcome, in the stream's order."""
        written = json.dumps(batch, ensure_ascii=False)[1:-1]  # as it stands in the JSON
        jobs = {o.job_id: None for o in self.outcomes(containing=written) if o.batch == batch}
        return list(jobs)

    def ensure_group(self, group: str) -> None:
        """Create a consumer group at the stream's start (idempotent)."""
        try:
            self._redis.xgroup_create(self.stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read_group(
        self, group: str, consumer: str, *, count: int = 100, block_ms: int | None = None
    ) -> list[StreamEntry]:
        """New entries for this consumer (XREADGROUP ">"); acknowledge them with ``ack``."""
        reply: Any = self._redis.xreadgroup(
            group, consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        return [_entry(entry_id, fields) for entry_id, fields in reply[0][1]] if reply else []

    def reclaim(
        self, group: str, consumer: str, min_idle_ms: int, count: int = 100
    ) -> list[StreamEntry]:
        """Take over entries another consumer of ``group`` read but has not acknowledged for
        ``min_idle_ms`` (it crashed: nothing else would ever ack them); ``ack`` them after use.

        Walks XAUTOCLAIM's cursor, ``count`` per call, to the end of the pending list.
        Entries trimmed from the stream meanwhile are skipped: Redis 7 drops them from the
        pending list and returns their ids apart, 6.2 returns them as nil.
        """
        claimed: list[StreamEntry] = []
        cursor = "0-0"
        while True:
            reply: Any = self._redis.xautoclaim(
                self.stream, group, consumer, min_idle_ms, start_id=cursor, count=count
            )
            claimed += [_entry(i, fields) for i, fields in reply[1] if i is not None]
            cursor = reply[0]
            if cursor == "0-0":
                return claimed

    def ack(self, group: str, entry_ids: list[str]) -> None:
        if entry_ids:
            self._redis.xack(self.stream, group, *entry_ids)


def last_entry_id(client: redis.Redis, stream: str) -> str:
    """The newest entry's id of any stream, "0-0" when it is empty."""
    newest: Any = client.xrevrange(stream, count=1)
    return str(newest[0][0]) if newest else "0-0"


def follow_entries(
    client: redis.Redis, stream: str, after: str = "$", *, block_ms: int = 1000
) -> Iterator[tuple[str, dict[str, str]] | None]:
    """(entry id, fields) of every entry newer than ``after`` as it arrives, and ``None``
    after each idle block: the caller's chance to check its deadline."""
    last = last_entry_id(client, stream) if after == "$" else after
    while True:
        reply: Any = client.xread({stream: last}, count=500, block=block_ms)
        if not reply:
            yield None
            continue
        for entry_id, fields in reply[0][1]:
            last = entry_id
            yield entry_id, fields


def entry_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id as a pair that sorts as Redis orders ids."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _entry(entry_id: str, fields: dict[str, str]) -> StreamEntry:
    return StreamEntry(entry_id, Outcome.model_validate_json(fields["outcome"]))
