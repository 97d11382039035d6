"""JobLedger: what a job writes to Redis about itself — one atomic Lua step per stage.

A job can be delivered more than once (a worker killed mid-job, a visibility timeout).
``begin`` tells a delivery whether the job is already done, how many attempts earlier
deliveries made and when the last one went out (so it knows whether Telnyx still
de-duplicates its command_id), and whether the same command already succeeded for
another job. ``publish`` sets the done-marker and appends the outcome in one step, so a
job can never publish twice. The attempts themselves are recorded by the FleetThrottle,
in the same step that lets them go out; for a delivery's first attempt that step runs
inside ``begin``'s (one round trip fewer per job). ``record`` reads it all back for status queries.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from confrec.tasks import metrics
from confrec.tasks.job import Outcome, RecordStartJob, conference_is_name
from confrec.tasks.store import keys
from confrec.tasks.store.job_record import JobRecord, NameState, parse_record
from confrec.tasks.store.schedule import conference_member, name_member
from confrec.tasks.store.scripts import register
from confrec.tasks.store.throttle import TakeRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fault:
    """What the ledger knows when a delivery of a job raised."""

    number: int
    """Faulty deliveries of this job so far, this one included."""
    attempts: int
    """HTTP attempts earlier deliveries sent."""


@dataclass(frozen=True)
class Delivery:
    """What a delivery knows when it starts."""

    number: int
    first_seen_at: float
    attempts_before: int
    last_attempt_at: float | None
    succeeded_as: str | None
    """The job that already started a recording with this command_id, if any."""
    taken: tuple[int, int] | None = None
    """The throttle's answer for the first attempt, when ``begin`` asked it too."""


@dataclass(frozen=True)
class Started:
    """What a job's 2xx tells of the recording it started: when, on whose clock, what."""

    answered_at: float
    offset: float
    """Telnyx's clock minus ours, from the answer's ``Date`` header (0 without one)."""
    skew_s: float
    """How far either end of the window is widened: the clocks' uncertainty."""
    format: str
    channels: str
    region: str
    poll_at: float
    """When reconciliation first looks at the conference (or resolves its name)."""


class JobLedger:
    """One job's state in Redis; ``client`` decodes replies (``decode_responses=True``)."""

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        *,
        maxlen: int = 1_000_000,
        ttl_s: int = 604800,
        retention_s: int = 604800,
        replicas: int = 0,
        replica_wait_ms: int = 500,
    ) -> None:
        """``replicas``: after an outcome's write, wait (``WAIT``, at most
        ``replica_wait_ms``) until that many replicas have it, before the delivery is
        acked: Redis replicates asynchronously, and an outcome the master had not passed
        on when it died would be gone after a Sentinel failover. ``retention_s``: the
        stream keeps outcomes this long (by their ids, Redis's clock), at most ``maxlen``."""
        self._client = client
        self._replicas = replicas
        self._replica_wait_ms = replica_wait_ms
        self.stream = stream
        self._maxlen = maxlen
        self._ttl_s = ttl_s
        self._retention_ms = retention_s * 1000
        self._begin = register(client, "ledger_begin")
        self._publish = register(client, "ledger_publish")
        self._fault = register(client, "ledger_fault")
        self._read = register(client, "ledger_read")
        self._enqueued = register(client, "ledger_enqueued")

    def enqueued(
        self,
        jobs: Sequence[tuple[str, RecordStartJob]],
        at: str,
        by: str = "",
        batch: str | None = None,
        batch_key: str | None = None,
        *,
        retry_of: Mapping[str, str] | None = None,
        retry_of_batch: str | None = None,
    ) -> set[str]:
        """Record jobs (job id, job with its command_id) as queued at ``at``, in one round
        trip, with the principal that enqueued them ("": the CLI, or another service) and
        their labels; a ``batch`` counts them in the same step (``lua/batch.lua``) and
        keeps each job's request fields, so it can be sent again. ``retry_of`` (new job id
        → the job it retries, of batch ``retry_of_batch``): each original is claimed in the
        same step; returns the new jobs left out because theirs was already retried (or is
        gone): their messages must not be sent."""
        if not jobs:
            return set()
        retries = retry_of or {}
        args: list[str | int] = [self._ttl_s, at, by, batch or "", int(time.time() * 1000)]
        args += [batch_key or "", retry_of_batch or ""]
        originals: list[str] = []
        for job_id, job in jobs:
            labels = json.dumps(job.labels, separators=(",", ":")) if job.labels else ""
            fields = _fields(job) if batch else ""
            original = retries.get(job_id, "")
            args += [job_id, job.conference_id, job.command_id or "", labels, fields, original]
            if original:
                originals.append(keys.job_state(original))
        batch_keys = [keys.batch(batch or "-"), keys.batches_of(by or None), keys.BATCHES]
        job_keys = [keys.job_state(job_id) for job_id, _ in jobs]
        refused: Any = self._enqueued(keys=batch_keys + job_keys + originals, args=args)
        return set(refused)

    def begin(
        self,
        job_id: str,
        conference_id: str,
        command_id: str,
        *,
        take: TakeRequest | None = None,
        delivery_limit: int | None = None,
    ) -> Delivery | None:
        """Count this delivery and read what came before; None if the job is done.

        With ``take``, also asks the throttle for the first attempt in the same round
        trip (``Delivery.taken``), unless the delivery will not send an attempt: its
        command already succeeded, or it is past ``delivery_limit`` redeliveries."""
        job_keys = [
            keys.job_done(job_id),
            keys.job_state(job_id),
            keys.command_succeeded(conference_id, command_id),
        ]
        limit = "" if delivery_limit is None else str(delivery_limit)
        args: list[str | int] = [repr(time.time()), self._ttl_s, conference_id, command_id]
        args += [limit, job_id]
        if take is not None:
            job_keys += take.keys[:2]  # its third, the job state, is KEYS[2] already
            args += take.args
        reply: Any = self._begin(keys=job_keys, args=args)
        if not reply:
            return None
        number, first_seen, attempts, last_attempt, succeeded_as, *taken = reply
        return Delivery(
            number=int(number),
            first_seen_at=float(first_seen),
            attempts_before=int(attempts or 0),
            last_attempt_at=float(last_attempt) if last_attempt else None,
            succeeded_as=succeeded_as or None,
            taken=(int(taken[0]), int(taken[1])) if taken else None,
        )

    def count_fault(self, job_id: str) -> Fault | None:
        """Count a delivery that raised; None if the job already has its outcome."""
        reply: Any = self._fault(
            keys=[keys.job_done(job_id), keys.job_state(job_id)], args=[self._ttl_s]
        )
        if not reply:
            return None
        number, attempts = (int(v) for v in reply)
        return Fault(number=number, attempts=attempts)

    def publish(
        self, outcome: Outcome, started: Started | None = None, *, nothing: int = 0
    ) -> str | None:
        """Append the outcome unless this job already has one; returns the entry id or None.
        ``nothing``: the delivery's last attempts known to have started nothing, not yet
        counted by the throttle's step (``nothing_started``: what a retry judges by).

        With ``started`` (the job's 2xx), the same step stores its start window, makes
        the job a candidate for its conference's recordings (or, for a name, schedules
        resolving it) and schedules reconciliation."""
        remember = "1" if outcome.status == "succeeded" and outcome.command_id else "0"
        job_keys = [
            keys.job_done(outcome.job_id),
            self.stream,
            keys.command_succeeded(outcome.conference_id, outcome.command_id or ""),
            keys.job_state(outcome.job_id),
        ]
        args: list[str | int | float] = [
            outcome.job_id,
            self._ttl_s,
            self._maxlen,
            outcome.to_json(),
            outcome.status,
            remember,
            self._retention_ms,
            outcome.reason,
            "1" if outcome.duplicate_of else "",
            nothing,
        ]
        if started is not None:
            by_name = conference_is_name(outcome.conference_id)
            job_keys.append(keys.RECONCILE_DUE)
            if not by_name:
                conference = outcome.conference_id
                job_keys.append(keys.conference_jobs(conference))
                job_keys.append(keys.conference_recordings(conference))
                job_keys.append(keys.conference_facts(conference))
            member = (
                name_member(outcome.job_id) if by_name else conference_member(outcome.conference_id)
            )
            args += [
                repr(started.answered_at),
                repr(started.offset),
                repr(started.skew_s),
                started.format,
                started.channels,
                started.region,
                member,
                repr(started.poll_at),
                keys.dirty_conference(outcome.conference_id),
            ]
        job_keys.append(keys.RECORDING_DIRTY)  # always last
        entry_id = self._publish(keys=job_keys, args=args)
        if not entry_id:
            return None
        metrics.outcome_published(outcome)
        if self._replicas:
            self._await_replicas(outcome.job_id)
        return str(entry_id)

    def _await_replicas(self, job_id: str) -> None:
        """Best effort: a replica down or lagging must not stop every job, so a short
        count is a warning (a failover in that moment could lose this outcome)."""
        acked = int(self._client.wait(self._replicas, self._replica_wait_ms))
        if acked < self._replicas:
            log.warning(
                "job %s: its outcome reached %d of %d replicas within %d ms",
                job_id,
                acked,
                self._replicas,
                self._replica_wait_ms,
            )

    def record(self, job_id: str) -> JobRecord | None:
        """Where the job stands, in one atomic read (changes nothing); None if unknown."""
        reply: Any = self._read(keys=[keys.job_done(job_id), keys.job_state(job_id), self.stream])
        return parse_record(job_id, reply)

    def set_name_state(self, job_id: str, state: NameState, resolved_id: str | None = None) -> None:
        """Record how resolving the job's conference name went; one MULTI with the mark
        that its recording state is to be counted again."""
        key = keys.job_state(job_id)
        with self._client.pipeline(transaction=True) as pipe:
            if resolved_id:  # with it: whoever reads "resolved" finds the id
                pipe.hset(key, "resolved_id", resolved_id)
            pipe.hset(key, "name_state", state)
            pipe.hincrby(key, keys.FACTS_VERSION, 1)
            pipe.sadd(keys.RECORDING_DIRTY, keys.dirty_job(job_id))
            pipe.execute()


def _fields(job: RecordStartJob) -> str:
    """The job's request fields as kept for a retry (conference, command_id and labels are
    kept apart)."""
    body = job.model_dump(exclude_none=True, exclude={"conference_id", "command_id", "labels"})
    return json.dumps(body, separators=(",", ":"))
