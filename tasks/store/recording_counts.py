"""RecordingCountStore: batch jobs' recording states as counted in their batches.

Each step that changes what a recording state is computed from (a recording stored, a
conference's end, its final list, a job joining a conference, a name resolved, a job that
sent nothing) marks a member in ``keys.RECORDING_DIRTY`` and moves a version on, in that
same step. Counting reads the versions first, then the facts, computes the states
(``tasks.recording_counts``) and applies them here in one Lua step that refuses when a
version moved meanwhile, so a count never lands on facts it was not computed from, and
a process killed between a fact and its count leaves a mark, never a wrong count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from confrec.tasks.store import keys
from confrec.tasks.store.scripts import register

#: Redis key → the version (field ``keys.FACTS_VERSION``) read before the facts were.
Versions = dict[str, str]


@dataclass(frozen=True)
class Counted:
    """One batch job's recording state as computed from the facts."""

    job_id: str
    conference_id: str
    state: str
    reason: str


def merge(first: Versions, later: Versions) -> Versions:
    """Both reads' versions; a key read twice keeps its first (earliest) version."""
    return later | first


class RecordingCountStore:
    """``client`` decodes replies. ``maxlen`` and ``retention_s`` bound the stream as the
    results stream's; ``ttl_s`` is the jobs' (and so their batches')."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl_s: int = 604800,
        maxlen: int = 1_000_000,
        retention_s: int = 604800,
        stream: str = keys.RECORDING_STATES,
    ) -> None:
        self._redis = client
        self.stream = stream
        self._ttl_s, self._maxlen, self._retention_ms = ttl_s, maxlen, retention_s * 1000
        self._apply = register(client, "recording_counts")

    def dirty(self, limit: int) -> list[str]:
        """Up to ``limit`` marked members (any of them: several counters share the set)."""
        found: Any = self._redis.srandmember(keys.RECORDING_DIRTY, limit)
        return list(found or [])

    def is_dirty(self, member: str) -> bool:
        return bool(self._redis.sismember(keys.RECORDING_DIRTY, member))

    def read_conference(self, conference_id: str) -> tuple[Versions, list[str]]:
        """The conference's version, then its jobs (in that order: one round trip)."""
        facts = keys.conference_facts(conference_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(facts, keys.FACTS_VERSION)
        pipe.smembers(keys.conference_jobs(conference_id))
        version, jobs = pipe.execute()
        return {facts: version or ""}, sorted(jobs)

    def read_jobs(self, job_ids: Iterable[str]) -> tuple[Versions, dict[str, list[str]]]:
        """Each job's version, then the duplicates that follow it (one round trip)."""
        ids = list(job_ids)
        pipe = self._redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(keys.job_state(job_id), keys.FACTS_VERSION)
            pipe.smembers(keys.job_followers(job_id))
        replies = pipe.execute()
        versions: Versions = {}
        followers: dict[str, list[str]] = {}
        for i, job_id in enumerate(ids):
            versions[keys.job_state(job_id)] = replies[2 * i] or ""
            followers[job_id] = sorted(replies[2 * i + 1])
        return versions, followers

    def read_job(self, job_id: str) -> Versions:
        key = keys.job_state(job_id)
        version: Any = self._redis.hget(key, keys.FACTS_VERSION)
        return {key: version or ""}

    def apply(
        self,
        member: str,
        versions: Versions,
        counted: list[Counted],
        follow: tuple[str, str] | None = None,
    ) -> int | None:
        """Count ``counted`` and unmark ``member``, unless a version moved since
        ``versions`` were read (None: nothing written). ``follow`` (original, duplicate):
        the duplicate joins the original's followers in the same step. How many changed."""
        guard_keys = list(versions)
        step_keys = [keys.RECORDING_DIRTY, self.stream, *guard_keys]
        args: list[str | int] = [member, self._ttl_s, self._maxlen, self._retention_ms]
        args += [len(guard_keys), follow[1] if follow else ""]
        args += [versions[key] for key in guard_keys]
        if follow:
            step_keys.append(keys.job_followers(follow[0]))
        for one in counted:
            step_keys.append(keys.job_state(one.job_id))
            args += [one.job_id, one.conference_id, one.state, one.reason]
        changed: Any = self._apply(keys=step_keys, args=args)
        return None if int(changed) < 0 else int(changed)
