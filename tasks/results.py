"""ResultsStream: the Redis Stream every outcome is published to, and read back from.

Publication is one atomic Lua step: it sets the job's done-marker and appends the stream
entry only if the marker was not set, so a job redelivered after its outcome was written
can never publish a second one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis

from config import keys
from tasks.job import Outcome

# KEYS: done-marker, stream, command key. ARGV: job id, ttl, maxlen, outcome json,
# status, "1" if the command succeeded (remember it so a re-run cannot send it again).
_PUBLISH = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  return false
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*',
  'outcome', ARGV[4], 'job_id', ARGV[1], 'status', ARGV[5])
if ARGV[6] == '1' then
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
end
return id
"""


@dataclass(frozen=True)
class StreamEntry:
    entry_id: str
    outcome: Outcome


class ResultsStream:
    """Publish outcomes exactly once per job; read them by range, follow, or group."""

    def __init__(
        self, client: redis.Redis, stream: str, *, maxlen: int = 1_000_000, ttl_s: int = 604800
    ) -> None:
        self._redis = client
        self.stream = stream
        self._maxlen = maxlen
        self._ttl_s = ttl_s
        self._publish = client.register_script(_PUBLISH)

    def publish(self, outcome: Outcome) -> str | None:
        """Append the outcome unless this job already has one; returns the entry id or None."""
        command_key = keys.command_succeeded(outcome.conference_id, outcome.command_id or "")
        remember = "1" if outcome.status == "succeeded" and outcome.command_id else "0"
        entry_id = self._publish(
            keys=[keys.job_done(outcome.job_id), self.stream, command_key],
            args=[
                outcome.job_id,
                self._ttl_s,
                self._maxlen,
                outcome.to_json(),
                outcome.status,
                remember,
            ],
        )
        return _text(entry_id) if entry_id else None

    def is_done(self, job_id: str) -> bool:
        return bool(self._redis.exists(keys.job_done(job_id)))

    def job_that_succeeded(self, conference_id: str, command_id: str) -> str | None:
        """The job that already started a recording with this command_id, if any."""
        value = self._redis.get(keys.command_succeeded(conference_id, command_id))
        return _text(value) if value else None

    def last_id(self) -> str:
        """The newest entry's id ("0-0" when empty): read after it to see only new outcomes."""
        newest: Any = self._redis.xrevrange(self.stream, count=1)
        return _text(newest[0][0]) if newest else "0-0"

    def latest(self, count: int) -> list[StreamEntry]:
        """The newest ``count`` outcomes, oldest first."""
        rows: Any = self._redis.xrevrange(self.stream, count=count)
        return [_entry(entry_id, fields) for entry_id, fields in reversed(rows)]

    def follow(self, after: str = "$", *, block_ms: int = 1000) -> Iterator[StreamEntry | None]:
        """Yield outcomes newer than ``after`` as they arrive; ``None`` after each idle block,
        so callers can check their own deadlines and refresh progress."""
        last = self.last_id() if after == "$" else after
        while True:
            reply: Any = self._redis.xread({self.stream: last}, count=500, block=block_ms)
            if not reply:
                yield None
                continue
            for entry_id, fields in reply[0][1]:
                last = _text(entry_id)
                yield _entry(entry_id, fields)

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

    def ack(self, group: str, entry_ids: list[str]) -> None:
        if entry_ids:
            self._redis.xack(self.stream, group, *entry_ids)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry(entry_id: bytes | str, fields: dict[bytes | str, bytes | str]) -> StreamEntry:
    raw = {_text(k): _text(v) for k, v in fields.items()}
    return StreamEntry(_text(entry_id), Outcome.model_validate_json(raw["outcome"]))
