"""ConferenceStore: the facts about a conference that say whether its recordings were saved.

Per conference id: the jobs that started a recording on it (their start windows), the
recordings Telnyx reported (each once, by ``recording_id``, whether a webhook or the
recordings list told of it first), and its end. Who owns which recording is never stored:
``tasks.matching`` decides it from these facts whenever they are read, so the order in
which they arrive cannot change the answer.

A recording newly stored is also appended to the recordings stream (PRODUCT.md: field
``event``, and ``job_id``/``command_id`` when it matches a job — the match as the facts
stood then; a job's status is the authority).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from confrec.tasks.matching import JobWindow, StartFacts, assign, conference_windows
from confrec.tasks.recording import Recording
from confrec.tasks.store import keys
from confrec.tasks.store.schedule import conference_member
from confrec.tasks.store.scripts import register

SAVED = "conference.recording.saved"
ENDED = "conference.ended"
#: How long a refused webhook is remembered: renewed by each one (Telnyx retries), gone
#: soon after serve has its key.
UNVERIFIABLE_NOTE_S = 300


@dataclass(frozen=True)
class ConferenceFacts:
    conference_id: str
    jobs: list[JobWindow]
    recordings: list[Recording]
    ended_at: float | None
    """Our clock when we learned the conference had ended."""
    end_reason: str | None
    final_at: float | None
    """When a list of its recordings was made past ``ended_at`` + the grace."""


@dataclass(frozen=True)
class StoredRecording:
    entry_id: str
    job_id: str | None


class ConferenceStore:
    """``client`` decodes replies (``decode_responses=True``)."""

    def __init__(
        self,
        client: redis.Redis,
        recordings_stream: str,
        *,
        ttl_s: int = 604800,
        maxlen: int = 1_000_000,
        grace_s: float = 900.0,
        per_conference: int = 1000,
    ) -> None:
        self._redis = client
        self.stream = recordings_stream
        self.grace_s = grace_s
        self._ttl_s = ttl_s
        self._maxlen = maxlen
        self._per_conference = per_conference
        self._store = register(client, "recording_store")
        self._ended = register(client, "conference_ended")

    def store_recording(
        self, rec: Recording, event: dict[str, Any] | None = None
    ) -> StoredRecording | None:
        """Store a recording unless its id is stored already; None for a repeat.
        ``event``: the webhook's ``data`` (reconciliation has none; one is made up so
        the stream's ``event`` field always holds a saved event)."""
        facts = self.facts(rec.conference_id)
        owner = _owner(facts, rec)
        command_id: Any = self._redis.hget(keys.job_state(owner), "command_id") if owner else ""
        if event is None:
            event = {
                "record_type": "event",
                "event_type": SAVED,
                "id": f"reconciliation:{rec.recording_id}",
                "payload": rec.model_dump(exclude_none=True),
            }
        entry_id = self._store(
            keys=[
                keys.conference_recordings(rec.conference_id),
                self.stream,
                keys.conference_facts(rec.conference_id),
                keys.RECORDING_DIRTY,
            ],
            args=[
                self._ttl_s,
                self._maxlen,
                rec.recording_id,
                rec.model_dump_json(),
                json.dumps(event, separators=(",", ":")),
                rec.source,
                rec.conference_id,
                owner or "",
                command_id or "",
                self._per_conference,
                keys.dirty_conference(rec.conference_id),
            ],
        )
        return StoredRecording(str(entry_id), owner) if entry_id else None

    def store_ended(
        self, conference_id: str, *, reason: str | None, source: str, occurred_at: str | None
    ) -> bool:
        """Store the conference's end (the first one told wins); True when new. A
        conference with jobs is put on the schedule now: the reconciler, which keeps the
        grace, sets when it is listed."""
        now = time.time()
        stored = self._ended(
            keys=[
                keys.conference_facts(conference_id),
                keys.conference_jobs(conference_id),
                keys.RECONCILE_DUE,
                keys.RECORDING_DIRTY,
            ],
            args=[
                repr(now),
                self._ttl_s,
                reason or "",
                source,
                occurred_at or "",
                repr(now),
                conference_member(conference_id),
                keys.dirty_conference(conference_id),
            ],
        )
        return bool(stored)

    def note_unverifiable_webhook(self) -> None:
        """serve answered a webhook 503 for want of TELNYX_PUBLIC_KEY: waiting for
        recordings is waiting for nothing, and ``bulk --until-saved`` says so."""
        self._redis.set(keys.WEBHOOKS_REFUSED, "1", ex=UNVERIFIABLE_NOTE_S)

    def webhooks_unverifiable(self) -> bool:
        """Whether serve refused a webhook it could not verify in the last minutes."""
        return bool(self._redis.exists(keys.WEBHOOKS_REFUSED))

    def mark_final(self, conference_id: str, at: float) -> None:
        """A list past the grace was made: a job with no recording is now ``not_saved``.
        One MULTI with the mark that its jobs' recording states are to be counted again."""
        key = keys.conference_facts(conference_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "final_at", repr(at))
            self._changed(pipe, conference_id)
            pipe.execute()

    def index_job(self, conference_id: str, job_id: str) -> None:
        """A job whose conference name resolved to this id joins its candidates (which
        changes who owns what: the conference's recording states are counted again)."""
        key = keys.conference_jobs(conference_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, job_id)
            pipe.expire(key, self._ttl_s)
            self._changed(pipe, conference_id)
            pipe.execute()

    def _changed(self, pipe: Any, conference_id: str) -> None:
        """In the caller's MULTI: the facts' version moves on, the conference is marked."""
        key = keys.conference_facts(conference_id)
        pipe.hincrby(key, keys.FACTS_VERSION, 1)
        pipe.expire(key, self._ttl_s)
        pipe.sadd(keys.RECORDING_DIRTY, keys.dirty_conference(conference_id))

    def facts(self, conference_id: str) -> ConferenceFacts:
        """Everything stored about the conference, in two round trips: the jobs are read
        from their own state, the one place their start is written."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.smembers(keys.conference_jobs(conference_id))
        pipe.hgetall(keys.conference_recordings(conference_id))
        pipe.hgetall(keys.conference_facts(conference_id))
        job_ids, recordings, ended = pipe.execute()
        pipe = self._redis.pipeline(transaction=False)
        for job_id in sorted(job_ids):
            pipe.hmget(keys.job_state(job_id), START_FIELDS)
        starts = [parse_start(j, v) for j, v in zip(sorted(job_ids), pipe.execute(), strict=True)]
        return ConferenceFacts(
            conference_id=conference_id,
            jobs=conference_windows(s for s in starts if s is not None),
            recordings=[Recording.model_validate_json(raw) for raw in recordings.values()],
            ended_at=_float(ended.get("ended_at")),
            end_reason=ended.get("end_reason") or None,
            final_at=_float(ended.get("final_at")),
        )

    def ended_among(self, conference_ids: Iterable[str]) -> set[str]:
        """Those of ``conference_ids`` whose end is stored, in one round trip (what a
        retry asks of many conferences; ``facts`` reads one whole)."""
        ids = list(dict.fromkeys(conference_ids))
        pipe = self._redis.pipeline(transaction=False)
        for conference_id in ids:
            pipe.hexists(keys.conference_facts(conference_id), "ended_at")
        return {c for c, ended in zip(ids, pipe.execute(), strict=True) if ended}


def _owner(facts: ConferenceFacts, rec: Recording) -> str | None:
    others = [r for r in facts.recordings if r.recording_id != rec.recording_id]
    for job_id, match in assign(facts.jobs, [*others, rec]).items():
        if any(r.recording_id == rec.recording_id for r in match.owned):
            return job_id
    return None


#: The job state's fields a start is read from (``parse_start``'s order).
START_FIELDS = ("first_attempt_at", "answered_at", "offset", "skew", "format", "channels")


def parse_start(job_id: str, values: list[str | None]) -> StartFacts | None:
    """A job's ``START_FIELDS`` as read; None before its 2xx is stored (or once expired)."""
    first, answered, offset, skew, fmt, channels = values
    if not answered:
        return None
    return StartFacts(
        job_id,
        float(first or answered),
        float(answered),
        float(offset or 0),
        float(skew or 0),
        fmt or None,
        channels or None,
    )


def _float(value: str | None) -> float | None:
    return float(value) if value else None
