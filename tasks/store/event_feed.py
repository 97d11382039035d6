"""The event stream's reads: the results stream and the recording states stream
(``keys.RECORDING_STATES``) followed together from a ``Position``, in time order.

One XREAD blocks on both streams at once; the jobs of the entries the reader may see are
looked up (their place in the batch, their labels) in one pipelined round trip per read.
Trimming took entries a resuming reader had not read when the stream's oldest entry is
newer than the reader's place and the stream ever lost an entry (Redis 7's
``entries-added`` beyond its length); if trimming stopped exactly at the reader's place
that tells a gap that lost nothing, the one case it cannot tell apart.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from confrec.tasks.events import RECORDINGS, RESULTS, Gap, Position
from confrec.tasks.store import keys
from confrec.tasks.store.streams import entry_order, last_entry_id


@dataclass(frozen=True)
class FeedEntry:
    stream: str
    """``RESULTS`` or ``RECORDINGS``."""
    fields: dict[str, str]
    position: Position
    """Where the reader stands once it has this entry."""
    seq: str | None
    """The job's place in its batch (from its state; None: no batch, or expired)."""
    labels: str | None
    """The job's labels as its state holds them (JSON), or None."""


@dataclass(frozen=True)
class FeedRead:
    entries: list[FeedEntry]
    """The entries the reader may see, oldest first."""
    position: Position
    """Past every entry read, seen or not."""


class EventFeed:
    """``client`` decodes replies; its socket timeout must exceed the longest block."""

    def __init__(self, client: redis.Redis, results_stream: str) -> None:
        self._redis = client
        self._names = {RESULTS: results_stream, RECORDINGS: keys.RECORDING_STATES}

    def now(self) -> Position:
        """Past the newest entry of each stream: a reader from here sees only new ones."""
        return Position(
            last_entry_id(self._redis, self._names[RESULTS]),
            last_entry_id(self._redis, self._names[RECORDINGS]),
        )

    def gaps(self, position: Position) -> list[Gap]:
        """The streams trimmed past entries after ``position``."""
        found = []
        for stream, name in self._names.items():
            try:
                info: Any = self._redis.xinfo_stream(name)
            except redis.ResponseError:  # no such stream: nothing was trimmed from it
                continue
            first = info.get("first-entry")
            oldest = str(first[0]) if first else None
            at = entry_order(position.of(stream))
            added = info.get("entries-added")  # Redis 7: None before
            removed = added is None or int(added) > int(info["length"])
            # Trimmed: the oldest entry left (or, emptied, the newest ever) is past the
            # reader; deleted (XDEL): Redis 7 keeps the newest id deleted.
            beyond = oldest or str(info.get("last-generated-id") or "0-0")
            deleted = str(info.get("max-deleted-entry-id") or "0-0")
            if (removed and entry_order(beyond) > at) or entry_order(deleted) > at:
                found.append(Gap(stream, position.of(stream), oldest))
        return found

    def read(
        self,
        position: Position,
        keep: Callable[[dict[str, str]], bool],
        *,
        count: int = 200,
        block_ms: int = 5000,
    ) -> FeedRead:
        """Entries after ``position`` of both streams (waiting up to ``block_ms`` for one),
        the ones ``keep`` accepts returned with their job's seq and labels."""
        reply: Any = self._redis.xread(
            {self._names[RESULTS]: position.results, self._names[RECORDINGS]: position.recordings},
            count=count,
            block=block_ms,
        )
        by_name = {name: stream for stream, name in self._names.items()}
        rows = heapq.merge(
            *[[(by_name[name], i, f) for i, f in entries] for name, entries in reply or []],
            key=lambda row: entry_order(row[1]),
        )
        kept: list[tuple[str, dict[str, str], Position]] = []
        for stream, entry_id, fields in rows:
            position = position.after(stream, entry_id)
            if keep(fields):
                kept.append((stream, fields, position))
        with self._redis.pipeline(transaction=False) as pipe:
            for _, fields, _ in kept:
                pipe.hmget(keys.job_state(fields.get("job_id", "")), "seq", "labels")
            states: list[list[str | None]] = pipe.execute() if kept else []
        entries = [
            FeedEntry(stream, fields, at, *state)
            for (stream, fields, at), state in zip(kept, states, strict=True)
        ]
        return FeedRead(entries, position)
