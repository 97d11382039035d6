"""NameResolver: the conference id behind a name a job addressed.

Telnyx answers a ``record_start`` addressed by name without the conference's id, and its
webhooks and lists report only ids. Names are not unique over time, so the conferences of
the name are listed and the one whose lifetime meets the job's start window is taken:
exactly one → the job joins that conference's candidates and the conference is
scheduled for reconciliation; several → ``name_ambiguous``; none, after asking for a
while (Telnyx may list it late) → ``name_not_found``. Calls go through the reconciler's
budget (``call``); its errors propagate, so the schedule retries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confrec.tasks import reconcile_rules as rules
from confrec.tasks.job import conference_is_name
from confrec.tasks.store.conferences import ConferenceStore
from confrec.tasks.store.job_record import NameState
from confrec.tasks.store.ledger import JobLedger
from confrec.tasks.store.schedule import ReconcileSchedule, conference_member
from confrec.tasks.telnyx_api import TelnyxApi


class NameResolver:
    def __init__(
        self,
        api: TelnyxApi,
        store: ConferenceStore,
        ledger: JobLedger,
        schedule: ReconcileSchedule,
        *,
        call: Callable[..., Any],
        clock: Callable[[], float],
        max_pages: int,
    ) -> None:
        self._api, self._store, self._ledger, self._schedule = api, store, ledger, schedule
        self._call, self._clock, self._max_pages = call, clock, max_pages

    def resolve(self, job_id: str) -> float | None:
        """Resolve the job's name; when to ask again (None: settled, or nothing to do)."""
        record = self._ledger.record(job_id)
        if record is None or record.window is None or not record.conference_id:
            return None
        if record.name_state not in (None, "pending"):
            return None
        name, region, window = record.conference_id, record.region, record.window
        now = self._clock()
        # A UUID is tried as an id first.
        is_id = not conference_is_name(name)
        if is_id and self._call(self._api.get_conference, name, region=region) is not None:
            self._resolved(job_id, name)
            return None
        found = rules.conferences_for(self._conferences(name, region), window, now)
        if len(found) == 1:
            self._resolved(job_id, found[0])
            return None
        if len(found) > 1:
            self._settled(job_id, name, "name_ambiguous")
            return None
        again = rules.name_retry_delay(now - window.hi)
        if again is None:
            self._settled(job_id, name, "name_not_found")
            return None
        return now + again

    def _settled(self, job_id: str, name: str, state: NameState) -> None:
        """No single conference: the job's state is ``unknown`` with this reason. A UUID
        that was neither an id Telnyx knows nor a name is a conference that is over
        (its recordings, if any, are listed under it after the grace)."""
        self._ledger.set_name_state(job_id, state)
        if not conference_is_name(name):
            self._store.store_ended(name, reason=None, source="api", occurred_at=None)

    def _conferences(self, name: str, region: str | None) -> list[dict[str, Any]]:
        """Every conference Telnyx lists under the name (all pages, up to the bound)."""
        conferences: list[dict[str, Any]] = []
        page, pages = 1, 1
        while page <= min(pages, self._max_pages):
            got = self._call(
                self._api.list_conferences, name, region=region, status=None, page=page
            )
            conferences += [c for c in got.items if c.get("name") in (None, name)]
            pages, page = got.total_pages, page + 1
        return conferences

    def _resolved(self, job_id: str, conference_id: str) -> None:
        """The conference is scheduled, the job joins its candidates, and only then is
        the name ``resolved``: a reconciler killed between two steps leaves the name
        pending (asked again), never resolved on a conference nobody looks at."""
        self._schedule.add(conference_member(conference_id), self._clock(), only_if_earlier=True)
        self._store.index_job(conference_id, job_id)
        self._ledger.set_name_state(job_id, "resolved", conference_id)
