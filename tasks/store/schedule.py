"""ReconcileSchedule: reconciliation's work, due times in a Redis sorted set.

A conference has to be looked at again minutes or hours after its job ran (when it ends,
when the grace has passed); a timer in a worker would die with it. Kept in Redis, the
schedule survives every worker being down across a due time, and any worker picks up
what is due. Claiming leases a member (its score moves to the lease's end), so one
reconciler works on a conference at a time and a SIGKILLed one's work comes back.
Releasing compares and sets: a member re-added while leased (a new job on the
conference) is never dropped by a run that did not see that job.
"""

from __future__ import annotations

from typing import Any, Literal

import redis

from confrec.tasks.job import canonical_conference
from confrec.tasks.store import keys
from confrec.tasks.store.scripts import register

Kind = Literal["conference", "name"]
_PREFIXES: dict[Kind, str] = {"conference": "c:", "name": "n:"}


def conference_member(conference_id: str) -> str:
    """Look at a conference: its end, then its recordings."""
    return "c:" + canonical_conference(conference_id)


def name_member(job_id: str) -> str:
    """Resolve the conference name a job addressed to the id of its conference."""
    return "n:" + job_id


def parse_member(member: str) -> tuple[Kind, str]:
    """(kind, conference id or job id); ValueError for a member of neither kind."""
    for kind, prefix in _PREFIXES.items():
        if member.startswith(prefix):
            return kind, member[len(prefix) :]
    raise ValueError(f"not a reconciliation member: {member[:40]!r}")


class ReconcileSchedule:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._claim = register(client, "schedule_claim")
        self._release = register(client, "schedule_release")
        self._leases: dict[str, float] = {}
        """Member → the lease end this object claimed it with (until released)."""

    def add(self, member: str, at: float, *, only_if_earlier: bool = False) -> None:
        """Due at ``at``; with ``only_if_earlier``, an earlier due time already set stays."""
        self._client.zadd(keys.RECONCILE_DUE, {member: at}, lt=only_if_earlier)

    def claim(self, now: float, lease_s: float, limit: int) -> list[str]:
        """Up to ``limit`` members due by ``now``, leased for ``lease_s``."""
        until = now + lease_s
        reply: Any = self._claim(keys=[keys.RECONCILE_DUE], args=[repr(now), repr(until), limit])
        # Leases already over are void (their members may be anyone's now): forget them.
        self._leases = {m: end for m, end in self._leases.items() if end > now}
        members = [str(m) for m in reply]
        self._leases.update(dict.fromkeys(members, until))
        return members

    def release(self, member: str, next_at: float | None) -> bool:
        """Done with a member: due again at ``next_at``, or removed (None) — if nobody
        re-added it while it was leased; else it stays due at the earlier time. True when
        the lease was intact."""
        lease = self._leases.pop(member, None)
        if lease is None:  # not claimed here: only ever move it earlier
            if next_at is not None:
                self.add(member, next_at, only_if_earlier=True)
            return False
        reply: Any = self._release(
            keys=[keys.RECONCILE_DUE],
            args=[member, repr(lease), "" if next_at is None else repr(next_at)],
        )
        return bool(reply)

    def due_count(self, now: float) -> int:
        """Members due by ``now`` (for ``confrec stats`` and tests)."""
        return int(self._client.zcount(keys.RECONCILE_DUE, "-inf", now))
