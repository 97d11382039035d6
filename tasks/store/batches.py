"""Batches read back: a batch's counts in one read, its jobs a page at a time.

The counts are written by ``lua/batch.lua`` in the same Lua step as what they count (the
enqueue, a delivery's start, the outcome, a recording state), so answering a batch of
10,000 jobs is one HGETALL — nothing here scans a batch's jobs, let alone all jobs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from confrec.tasks.store import keys

STATES = ("queued", "running", "finished")
STATUSES = ("succeeded", "failed")
REASONS = ("ok", "rejected", "retries_exhausted", "invalid")
RECORDING_STATES = ("pending", "saved", "not_saved", "unknown", "ambiguous")


@dataclass(frozen=True)
class BatchSummary:
    """One batch: who made it, when, and its jobs counted every way a listing filters."""

    batch_id: str
    created_at: str
    principal: str | None
    """Who enqueued it through ``confrec serve``; None: the CLI or a Python producer."""
    batch_key: str | None
    total: int
    counts: dict[str, int]
    """One count per list of ``keys.BATCH_LISTS`` (but ``all``: that is ``total``)."""
    retry_of: str | None = None
    """The batch whose failed jobs this one sends again (docs/retry.md)."""
    retries: tuple[str, ...] = ()
    """The batches that retried this one's jobs, oldest first."""

    @property
    def in_flight(self) -> bool:
        """Some job has no outcome yet."""
        return self.counts["queued"] + self.counts["running"] > 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON of ``GET /v1/batches/{id}`` and ``confrec batch --json``."""
        return {
            "batch": self.batch_id,
            "created_at": self.created_at,
            "batch_key": self.batch_key,
            "total": self.total,
            "in_flight": self.in_flight,
            "states": {name: self.counts[name] for name in STATES},
            "statuses": {name: self.counts[name] for name in STATUSES},
            "reasons": {name: self.counts[name] for name in REASONS},
            "already_done": self.counts["already_done"],
            "recordings": {name: self.counts[name] for name in RECORDING_STATES},
            "retry_of": self.retry_of,
            "retries": list(self.retries),
        }


@dataclass(frozen=True)
class Page:
    """Some ids in order, and the cursor that continues after them (None: no more)."""

    items: list[str]
    cursor: str | None
    seqs: list[int] = field(default_factory=list)
    """A job list's: each job's place in its batch (1-based), beside ``items``."""


class BatchStore:
    """Reads batches; ``client`` decodes replies (``decode_responses=True``)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def summary(self, batch_id: str) -> BatchSummary | None:
        """The batch's counts, or None when there is no such batch (or it expired)."""
        found = self.summaries([batch_id])
        return found[0] if found else None

    def summaries(self, batch_ids: Iterable[str]) -> list[BatchSummary]:
        """The batches that exist of ``batch_ids``, in that order, in one round trip."""
        ids = list(batch_ids)
        with self._client.pipeline(transaction=False) as pipe:
            for batch_id in ids:
                pipe.hgetall(keys.batch(batch_id))
            replies: list[dict[str, str]] = pipe.execute()
        return [_summary(b, fields) for b, fields in zip(ids, replies, strict=True) if fields]

    def batches(self, principal: str | None, *, limit: int = 50, cursor: str | None = None) -> Page:
        """Batch ids newest first: ``principal``'s own (``None``: every batch, what an
        operator sees). The cursor is the last id's ``<ms>:<id>``."""
        index = keys.BATCHES if principal is None else keys.batches_of(principal)
        top: float | str = "+inf"
        after: tuple[float, str] | None = None
        if cursor:
            ms, _, last = cursor.partition(":")
            after = (float(ms), last)
            top = after[0]
        rows: list[tuple[str, float]] = self._client.zrevrangebyscore(  # type: ignore[assignment]
            index, top, "-inf", start=0, num=limit + 64, withscores=True
        )
        if after is not None:  # same millisecond: ZREV orders members in reverse
            rows = [(b, s) for b, s in rows if s < after[0] or b < after[1]]
        rows = rows[:limit]
        more = len(rows) == limit
        return Page([b for b, _ in rows], f"{rows[-1][1]:.0f}:{rows[-1][0]}" if more else None)

    def jobs(
        self,
        batch_id: str,
        list_name: str = "all",
        *,
        label: tuple[str, str] | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """Job ids of one list of the batch (``keys.BATCH_LISTS``), or of those labelled
        ``label`` (key, value), in batch order; the cursor is the last job's place."""
        key = keys.batch_label(batch_id, *label) if label else keys.batch_jobs(batch_id, list_name)
        low = f"({int(cursor)}" if cursor else "-inf"
        rows: list[tuple[str, float]] = self._client.zrangebyscore(  # type: ignore[assignment]
            key, low, "+inf", start=0, num=limit, withscores=True
        )
        more = len(rows) == limit
        seqs = [int(seq) for _, seq in rows]
        return Page([job for job, _ in rows], f"{rows[-1][1]:.0f}" if more else None, seqs)


def _summary(batch_id: str, fields: dict[str, str]) -> BatchSummary:
    return BatchSummary(
        batch_id=batch_id,
        created_at=fields.get("created_at", ""),
        principal=fields.get("principal") or None,
        batch_key=fields.get("batch_key") or None,
        total=int(fields.get("total", 0)),
        counts={name: int(fields.get(name, 0)) for name in keys.BATCH_LISTS if name != "all"},
        retry_of=fields.get("retry_of") or None,
        retries=tuple(filter(None, fields.get("retries", "").split(","))),
    )
