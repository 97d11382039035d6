"""Reconciler: a definite answer for every started job, by asking Telnyx.

Telnyx retries a webhook a few times and then gives up, and there is no "recording
failed" event; so a conference confrec started recordings on is looked at again. Until
its end is known, ``GET /conferences/{id}`` is polled with a backoff (conferences last 4
hours at most). Once it ended and the grace has passed, its recordings are listed and
each stored as a webhook would store it (the store keeps one per ``recording_id``), and
the conference is marked final: a job that owns none of them is then ``not_saved``.
A job that addressed its conference by name gets the id whose lifetime meets its start
window, and joins that conference's candidates.

The work is a schedule in Redis (``ReconcileSchedule``): claiming leases a member, so one
reconciler works on a conference at a time and a killed one's work comes back. Each run
is bounded in time, calls and pages; calls take reconciliation's own budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from confrec.tasks import reconcile_rules as rules
from confrec.tasks.job import canonical_conference, conference_is_name
from confrec.tasks.reconcile_names import NameResolver
from confrec.tasks.recording import from_listed
from confrec.tasks.store.conferences import ConferenceFacts, ConferenceStore
from confrec.tasks.store.ledger import JobLedger
from confrec.tasks.store.reconcile_budget import ReconcileBudget
from confrec.tasks.store.schedule import (
    ReconcileSchedule,
    conference_member,
    name_member,
    parse_member,
)
from confrec.tasks.telnyx_api import TelnyxApi, TelnyxApiError

log = logging.getLogger(__name__)
T = TypeVar("T")


class OutOfBudget(Exception):
    """This run's time or calls are spent: what is left goes back to the schedule."""


@dataclass(frozen=True)
class ConferenceResult:
    conference_id: str
    ended: bool
    listed: int
    """Recordings Telnyx listed for it now."""
    stored: int
    """Of those, the ones not stored before (no webhook had told of them)."""
    final: bool
    """Listed past ``ended_at`` + grace: a job with no recording is ``not_saved``."""
    next_at: float | None
    """When the schedule looks at it again (None: done)."""


class Reconciler:
    """Works the schedule (``run_due``) or one conference or job now (on demand)."""

    def __init__(
        self,
        api: TelnyxApi,
        store: ConferenceStore,
        ledger: JobLedger,
        schedule: ReconcileSchedule,
        *,
        budget: ReconcileBudget,
        grace_s: float,
        poll_s: float,
        lease_s: float = 120.0,
        max_pages: int = 20,
        max_calls: int = 60,
        run_time_s: float | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api, self._store, self._ledger, self._schedule = api, store, ledger, schedule
        self._budget = budget
        self.grace_s, self.poll_s, self.lease_s = grace_s, poll_s, lease_s
        self._max_pages, self._max_calls = max_pages, max_calls
        # Half the lease, so the last call of a run (≤ its HTTP timeout) ends inside it.
        self._run_time_s = run_time_s if run_time_s is not None else lease_s / 2
        self._clock, self._monotonic = clock, monotonic
        self._calls_left, self._deadline = 0, 0.0
        self._failures = rules.Failures()
        self._names = NameResolver(
            api, store, ledger, schedule, call=self._call, clock=clock, max_pages=max_pages
        )

    # -- the schedule ---------------------------------------------------------------

    def run_due(self, now: float | None = None, *, limit: int = 20) -> int:
        """Claim what is due and work it, within this run's bounds; the members handled."""
        self._start_run()
        members = self._schedule.claim(self._clock() if now is None else now, self.lease_s, limit)
        for done, member in enumerate(members):
            try:
                next_at = self._work(member)
            except OutOfBudget:
                for rest in members[done:]:
                    self._schedule.release(rest, self._clock())
                return done
            except Exception as exc:  # Telnyx, transport, a bad item: this member only
                next_at = self._after_error(member, exc)
            else:
                self._failures.clear(member)
            self._schedule.release(member, next_at)
        return len(members)

    def _work(self, member: str) -> float | None:
        try:
            kind, ident = parse_member(member)
        except ValueError:
            log.warning("reconcile: dropping unknown schedule member %r", member[:80])
            return None
        if kind == "conference":
            return self._conference(ident, final_allowed=True, on_demand=False).next_at
        return self._names.resolve(ident)

    def _after_error(self, member: str, exc: Exception) -> float | None:
        """When to try again; None once no job is left to answer for (their state
        expired): a permanent error (401, 403, 422) must not keep a member forever."""
        kind, ident = parse_member(member)
        throttled = isinstance(exc, TelnyxApiError) and exc.status == 429  # not its fault
        if kind == "conference" and not throttled and not self._store.facts(ident).jobs:
            self._failures.clear(member)
            log.warning("reconcile %s: %s; no job left, dropped", member[:80], type(exc).__name__)
            return None
        failures = self._failures.add(member, self._clock())
        retry_after = exc.retry_after if isinstance(exc, TelnyxApiError) else None
        delay = rules.error_delay(failures, retry_after)
        what = type(exc).__name__  # an httpx error's text may hold the URL: its type only
        if isinstance(exc, TelnyxApiError) or not isinstance(exc, httpx.HTTPError):
            what = f"{what}: {str(exc)[:120]}"
        log.warning("reconcile %s: %s; again in %.0f s", member[:80], what, delay)
        return self._clock() + delay

    # -- on demand ------------------------------------------------------------------

    def reconcile_conference(self, conference_id: str, *, final_allowed: bool) -> ConferenceResult:
        """Look at a conference now: its end, and what Telnyx lists of its recordings
        (stored); final only past the grace and when ``final_allowed``."""
        self._start_run()
        result = self._conference(conference_id, final_allowed=final_allowed, on_demand=True)
        if result.next_at is not None:
            self._schedule.add(
                conference_member(conference_id), result.next_at, only_if_earlier=True
            )
        return result

    def resolve_name(self, job_id: str) -> str | None:
        """Resolve a job's conference name now; its name state after (None: not a name).
        Not found yet: it stays ``pending`` and the schedule asks again."""
        self._start_run()
        again = self._names.resolve(job_id)
        if again is not None:
            self._schedule.add(name_member(job_id), again, only_if_earlier=True)
        record = self._ledger.record(job_id)
        return record.name_state if record else None

    # -- a conference ---------------------------------------------------------------

    def _conference(
        self, conference_id: str, *, final_allowed: bool, on_demand: bool
    ) -> ConferenceResult:
        now = self._clock()
        facts = self._store.facts(conference_id)
        if not on_demand and (
            facts.final_at is not None or rules.all_saved(facts.jobs, facts.recordings)
        ):
            ended = facts.ended_at is not None
            return ConferenceResult(conference_id, ended, 0, 0, facts.final_at is not None, None)
        ended_at, poll_at = facts.ended_at, None
        if ended_at is None:
            ended_at, poll_at = self._poll_end(facts, now)
            if ended_at is None and (poll_at is None or not on_demand):
                return ConferenceResult(conference_id, False, 0, 0, False, poll_at)
        due = None if ended_at is None else ended_at + self.grace_s
        if not on_demand and due is not None and now < due:
            return ConferenceResult(conference_id, True, 0, 0, False, due)
        listed, stored, complete = self._list(facts, ended_at, now)
        final = complete and final_allowed and due is not None and now >= due
        if final:
            self._store.mark_final(conference_id, now)
        next_at = None if final else (due if due is not None else poll_at)
        if not complete:  # recordings on pages not read: never final, look again later
            next_at = now + rules.MAX_POLL_S
        return ConferenceResult(conference_id, ended_at is not None, listed, stored, final, next_at)

    def _poll_end(self, facts: ConferenceFacts, now: float) -> tuple[float | None, float | None]:
        """(ended_at, None) once the conference is over, else (None, when to look again);
        (None, None) when its id turned out to be a name (its jobs resolve it)."""
        first = min((j.lo for j in facts.jobs), default=None)
        region = self._region(facts)
        conference_id = facts.conference_id
        if rules.past_lifetime(now, first, self.grace_s):
            conference: dict[str, Any] | None = {"status": "completed"}
        else:
            conference = self._call(self._api.get_conference, conference_id, region=region)
        if conference is None and self._is_a_name(facts, region):
            return None, None
        if conference is None or rules.conference_over(conference, now):
            reason = conference.get("end_reason") if conference else None
            self._store.store_ended(
                conference_id,
                reason=reason if isinstance(reason, str) else None,
                source="api",
                occurred_at=None,
            )
            return self._store.facts(conference_id).ended_at or now, None
        next_at = now + rules.poll_delay(now, first, self.poll_s)
        if first is not None:  # look once more when it must have expired
            next_at = min(next_at, max(now + self.poll_s, first + rules.MAX_LIFETIME_S))
        return None, next_at

    def _is_a_name(self, facts: ConferenceFacts, region: str | None) -> bool:
        """A UUID Telnyx knows no conference by may be a name (tried as an id first): if
        Telnyx lists conferences of that name, its jobs resolve it as one."""
        if conference_is_name(facts.conference_id):
            return False
        page = self._call(
            self._api.list_conferences, facts.conference_id, region=region, status=None, page=1
        )
        if not page.items:
            return False
        for job in facts.jobs:
            self._ledger.set_name_state(job.job_id, "pending")
            self._schedule.add(name_member(job.job_id), self._clock(), only_if_earlier=True)
        return True

    def _list(
        self, facts: ConferenceFacts, ended_at: float | None, now: float
    ) -> tuple[int, int, bool]:
        """List the conference's recordings (every page, up to the bound) and store each;
        (listed, newly stored, every page read)."""
        gte, lte = rules.list_window(facts.jobs, ended_at, now)
        region = self._region(facts)
        listed = stored = 0
        page, pages = 1, 1
        while page <= min(pages, self._max_pages):
            got = self._call(
                self._api.list_recordings,
                facts.conference_id,
                region=region,
                created_gte=gte,
                created_lte=lte,
                page=page,
            )
            for item in got.items:
                try:
                    rec = from_listed(item)
                except ValueError:
                    continue  # no id: nothing to store it under
                if canonical_conference(rec.conference_id) != facts.conference_id:
                    continue
                listed += 1
                stored += self._store.store_recording(rec) is not None
            pages, page = got.total_pages, page + 1
        if pages > self._max_pages:
            log.warning(
                "reconcile %s: %d pages of recordings, read the first %d; not final",
                facts.conference_id[:80],
                pages,
                self._max_pages,
            )
        return listed, stored, pages <= self._max_pages

    def _region(self, facts: ConferenceFacts) -> str | None:
        """The region its jobs asked for: a conference lives in one, and Telnyx lists it
        only there."""
        for job in facts.jobs:
            record = self._ledger.record(job.job_id)
            if record is not None and record.region:
                return record.region
        return None

    # -- calls ----------------------------------------------------------------------

    def _start_run(self) -> None:
        self._calls_left = self._max_calls
        self._deadline = self._monotonic() + self._run_time_s

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One call to Telnyx on reconciliation's budget; a 429 pauses reconciliation."""
        if self._calls_left <= 0 or not self._budget.acquire(self._deadline):
            raise OutOfBudget
        self._calls_left -= 1
        try:
            return fn(*args, **kwargs)
        except TelnyxApiError as exc:
            if exc.status == 429:
                self._budget.pause(exc.retry_after or 1.0)
            raise
