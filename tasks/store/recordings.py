"""RecordingsStore: Telnyx's ``conference.recording.saved`` events, stored once each.

Telnyx retries a webhook until it is answered and may deliver one event more than once,
and out of order; the event's ``data.id`` is the only identity it keeps. ``store`` keeps
the first delivery of each id and drops the rest in the same atomic step that appends it
to the recordings stream, so a duplicate can never appear twice.

An event belongs to the job most recently started on its ``payload.conference_id`` (the
ledger writes that index on a job's first delivery). Telnyx reports a conference by its
id, so a job that addressed its conference by *name* is never matched: its recordings are
still in the stream, without ``job_id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis

from confrec.tasks.store import keys
from confrec.tasks.store.scripts import register
from confrec.tasks.store.streams import follow_entries, last_entry_id

SAVED = "conference.recording.saved"


@dataclass(frozen=True)
class SavedRecording:
    """One stored ``conference.recording.saved`` event."""

    entry_id: str
    event: dict[str, Any]
    """The webhook's ``data`` object, as Telnyx sent it."""
    job_id: str | None
    command_id: str | None


class RecordingsStore:
    """The recordings stream and each job's list of its recordings; ``client`` decodes
    replies (``decode_responses=True``)."""

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        *,
        maxlen: int = 1_000_000,
        ttl_s: int = 604800,
        per_job: int = 100,
    ) -> None:
        self._redis = client
        self.stream = stream
        self._maxlen = maxlen
        self._ttl_s = ttl_s
        self._per_job = per_job
        self._store = register(client, "recordings_store")

    def store(self, event: dict[str, Any]) -> SavedRecording | None:
        """Append a saved-recording event (the webhook's ``data``) unless its ``id`` was
        stored before; None for a repeat."""
        event_id = str(event["id"])
        payload = event.get("payload")
        conference_id = payload.get("conference_id") if isinstance(payload, dict) else None
        job_id, command_id = self._job_of(conference_id)
        event_keys = [keys.webhook_seen(event_id), self.stream]
        if job_id:
            event_keys.append(keys.job_recordings(job_id))
        entry_id = self._store(
            keys=event_keys,
            args=[
                self._ttl_s,
                self._maxlen,
                json.dumps(event, separators=(",", ":")),
                job_id or "",
                command_id or "",
                self._per_job,
            ],
        )
        if not entry_id:
            return None
        return SavedRecording(str(entry_id), event, job_id, command_id)

    def for_job(self, job_id: str) -> list[dict[str, Any]]:
        """The events matched to a job, in the order they were stored."""
        rows: Any = self._redis.lrange(keys.job_recordings(job_id), 0, -1)
        return [json.loads(row) for row in rows]

    def last_id(self) -> str:
        """The newest entry's id ("0-0" when empty): read after it to see only new ones."""
        return last_entry_id(self._redis, self.stream)

    def follow(self, after: str, *, block_ms: int = 1000) -> Iterator[SavedRecording | None]:
        """Recordings newer than ``after`` as they are stored; ``None`` after each idle block."""
        for row in follow_entries(self._redis, self.stream, after, block_ms=block_ms):
            yield None if row is None else _saved(*row)

    def _job_of(self, conference_id: object) -> tuple[str | None, str | None]:
        if not isinstance(conference_id, str) or not conference_id:
            return None, None
        found: Any = self._redis.get(keys.conference_job(conference_id))
        if not found:
            return None, None
        job_id, _, command_id = str(found).partition(" ")
        return job_id, command_id or None


def _saved(entry_id: str, fields: dict[str, str]) -> SavedRecording:
    event = json.loads(fields["event"])
    return SavedRecording(entry_id, event, fields.get("job_id"), fields.get("command_id"))
