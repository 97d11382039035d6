"""Counting batch jobs' recording states: what ``tasks.status.recording_view`` computes
from the facts, kept in each job's batch (``lua/batch.lua``'s ``batch_recording``) and
appended to the recording-states stream when it changes.

A step that changes the facts marks what it touched (``c:<conference>``, ``j:<job>``; see
``tasks.store.recording_counts``). ``refresh`` counts one mark: the jobs of a conference
(and the duplicates that follow them), or one job (its name resolved; a duplicate, which
also joins its original's followers). Whoever wrote a fact refreshes right after it —
serve after a webhook, ``confrec reconcile`` — and each worker's reconciler thread drains
what is left (``drain``): a process killed between a fact and its count leaves a mark,
which the next drain counts. A count computed while the facts moved is refused and
tried again, so no state is ever counted from facts that no longer stand.
"""

from __future__ import annotations

from confrec.tasks.job import conference_is_name
from confrec.tasks.status import MAX_DUPLICATE_HOPS, recording_view
from confrec.tasks.store import keys
from confrec.tasks.store.conferences import ConferenceStore
from confrec.tasks.store.job_record import JobRecord
from confrec.tasks.store.ledger import JobLedger
from confrec.tasks.store.recording_counts import Counted, RecordingCountStore, Versions, merge

#: Tries of one mark before it is left for the next drain (the facts kept moving).
ATTEMPTS = 3
#: Marks a drain takes at a time.
DRAIN_LIMIT = 200


class RecordingCounts:
    def __init__(
        self, ledger: JobLedger, conferences: ConferenceStore, store: RecordingCountStore
    ) -> None:
        self._ledger, self._conferences, self._store = ledger, conferences, store

    def refresh_conference(self, conference_id: str) -> bool:
        """Count the conference's jobs now (after storing one of its facts)."""
        return self.refresh(keys.dirty_conference(conference_id))

    def refresh(self, member: str) -> bool:
        """Count one mark; False when the facts kept moving (it stays marked)."""
        return any(self._count(member) is not None for _ in range(ATTEMPTS))

    def drain(self, limit: int = DRAIN_LIMIT) -> int:
        """Count up to ``limit`` marks left by any process; how many were taken."""
        members = self._store.dirty(limit)
        for member in members:
            self.refresh(member)
        return len(members)

    def _count(self, member: str) -> int | None:
        kind, _, ident = member.partition(":")
        if kind == "c":
            return self._conference(member, ident)
        if kind == "j":
            return self._job(member, ident)
        return self._store.apply(member, {}, [])  # not ours to count: unmarked

    def _conference(self, member: str, conference_id: str) -> int | None:
        versions, jobs = self._store.read_conference(conference_id)
        job_versions, followers = self._store.read_jobs(jobs)
        versions = merge(versions, job_versions)
        concerned = list(dict.fromkeys([*jobs, *(f for j in jobs for f in followers[j])]))
        return self._store.apply(member, versions, self._counted(concerned))

    def _job(self, member: str, job_id: str) -> int | None:
        versions = self._store.read_job(job_id)
        record = self._ledger.record(job_id)
        if record is None:
            return self._store.apply(member, versions, [])
        original = record.outcome.duplicate_of if record.outcome else None
        if original:
            root_id, root, versions = self._original(original, versions)
            follow = (root_id, job_id) if root is not None else None
            concerned = [job_id]
        else:
            root, follow = record, None
            job_versions, followers = self._store.read_jobs([job_id])
            versions = merge(versions, job_versions)
            concerned = [job_id, *followers[job_id]]
        conference_id = _conference_of(root) if root is not None else None
        if conference_id is not None:
            versions = merge(versions, self._store.read_conference(conference_id)[0])
        return self._store.apply(member, versions, self._counted(concerned), follow)

    def _original(self, job_id: str, versions: Versions) -> tuple[str, JobRecord | None, Versions]:
        """The job that started the recording a duplicate shows, through duplicates of
        duplicates, each one's version read before it (None: gone, or too deep)."""
        for _ in range(MAX_DUPLICATE_HOPS):
            versions = merge(versions, self._store.read_job(job_id))
            found = self._ledger.record(job_id)
            if found is None:
                return job_id, None, versions
            if found.outcome is None or not found.outcome.duplicate_of:
                return job_id, found, versions
            job_id = found.outcome.duplicate_of
        return job_id, None, versions

    def _counted(self, job_ids: list[str]) -> list[Counted]:
        """The recording states of the batch jobs among ``job_ids`` (the facts as they
        stand now: read after every version)."""
        counted = []
        for job_id in job_ids:
            record = self._ledger.record(job_id)
            if record is None or record.batch is None:
                continue
            view = recording_view(self._ledger, self._conferences, job_id, record)
            if view.state is None:
                continue
            conference_id = record.resolved_id or record.conference_id or ""
            counted.append(Counted(job_id, conference_id, view.state, view.reason or ""))
        return counted


def _conference_of(record: JobRecord) -> str | None:
    """The conference whose facts a started job's state is computed from (None: none
    yet — not started, or a name not resolved)."""
    if record.window is None or record.conference_id is None:
        return None
    if conference_is_name(record.conference_id) and record.name_state != "resolved":
        return None
    return record.resolved_id or record.conference_id
