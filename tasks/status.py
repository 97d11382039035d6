"""A job's status: what ``confrec status`` prints and ``GET /v1/jobs/{job_id}`` returns.

Composed from the ledger (state, outcome, start window) and the conference's facts
(recordings, end), matched by ``tasks.matching`` at read time. Its recording state
answers the user's question — was a recording saved, and where is it:

- ``pending``: started, not yet reported saved, and Telnyx may still list it;
- ``saved``: a recording this job started is stored (``recordings``);
- ``not_saved``: Telnyx listed none for it after its conference ended and the grace passed
  (a later webhook still makes it ``saved``);
- ``unknown``: the facts cannot be had (a conference name that did not resolve);
- ``ambiguous``: another job could own its recording as well, and nothing tells which —
  said only once the conference is final: until then a recording still on its way may
  settle it, and the job is ``pending``.

A job that sent nothing (``duplicate_of``) shows its original's recordings and state —
unless a ``viewer`` (the principal asking through ``confrec serve``) may not see the
original: another principal's recording links are never shown to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from confrec.tasks.job import Outcome, conference_is_name
from confrec.tasks.matching import JobMatch, assign
from confrec.tasks.principal import Principal
from confrec.tasks.store.conferences import ConferenceStore
from confrec.tasks.store.job_record import JobRecord, JobState
from confrec.tasks.store.ledger import JobLedger

RecordingState = Literal["pending", "saved", "not_saved", "unknown", "ambiguous"]
#: How far a status follows a duplicate's duplicates to the job that started a recording.
MAX_DUPLICATE_HOPS = 8
#: States no later fact is expected to change (a late webhook may still turn
#: ``not_saved`` into ``saved``).
SETTLED: frozenset[str] = frozenset({"saved", "not_saved", "unknown", "ambiguous"})


@dataclass(frozen=True)
class RecordingView:
    state: RecordingState | None = None
    """None when the job started no recording (it failed, or is not finished)."""
    reason: str | None = None
    recordings: list[dict[str, Any]] = field(default_factory=list)
    """The recordings this job started: Telnyx's payload fields, ``recording_id`` first,
    plus ``source`` and ``links_expire_at``."""
    other_recordings: list[dict[str, Any]] = field(default_factory=list)
    """Recordings on its conference that are not (or not surely) its own; ``match`` says
    which: ``ambiguous`` or ``not_started_by_confrec``."""


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    conference_id: str | None
    command_id: str | None
    state: JobState
    outcome: Outcome | None
    recording: RecordingView
    labels: dict[str, str] | None = None
    """Its producer's labels (``RecordStartJob.labels``)."""

    @property
    def recordings(self) -> list[dict[str, Any]]:
        return self.recording.recordings

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "conference_id": self.conference_id,
            "command_id": self.command_id,
            "state": self.state,
            "outcome": json.loads(self.outcome.to_json()) if self.outcome else None,
            "recording_state": self.recording.state,
            "recording_reason": self.recording.reason,
            "recordings": self.recording.recordings,
            "other_recordings": self.recording.other_recordings,
            "labels": self.labels,
        }


def job_status(
    ledger: JobLedger, conferences: ConferenceStore, job_id: str, viewer: Principal | None = None
) -> JobStatus | None:
    """The job's status, or None when the ledger does not know it or it is not the
    ``viewer``'s (None: the CLI, which sees every job)."""
    record = ledger.record(job_id)
    if record is None or (viewer is not None and not viewer.sees(record.principal)):
        return None
    outcome = record.outcome
    return JobStatus(
        job_id=job_id,
        conference_id=record.conference_id or (outcome.conference_id if outcome else None),
        command_id=record.command_id or (outcome.command_id if outcome else None),
        state=record.state,
        outcome=outcome,
        recording=recording_view(ledger, conferences, job_id, record, viewer),
        labels=record.labels,
    )


def recording_states(
    ledger: JobLedger, conferences: ConferenceStore, job_ids: list[str]
) -> dict[str, RecordingState | None]:
    """Each job's recording state (None: an unknown job, or one that started none)."""
    states: dict[str, RecordingState | None] = {}
    for job_id in job_ids:
        found = job_status(ledger, conferences, job_id)
        states[job_id] = found.recording.state if found else None
    return states


def recording_view(
    ledger: JobLedger,
    conferences: ConferenceStore,
    job_id: str,
    record: JobRecord,
    viewer: Principal | None = None,
) -> RecordingView:
    """The job's recording state, from the facts as they stand."""
    outcome = record.outcome
    if outcome is not None and outcome.duplicate_of:
        return _duplicate_view(ledger, conferences, outcome.duplicate_of, viewer)
    if record.window is None or record.conference_id is None:
        return RecordingView()
    if conference_is_name(record.conference_id) and record.name_state != "resolved":
        if record.name_state in ("name_not_found", "name_ambiguous"):
            return RecordingView("unknown", record.name_state)
        return RecordingView("pending", "resolving the conference name to its id")
    conference_id = record.resolved_id or record.conference_id
    facts = conferences.facts(conference_id)
    match = assign(facts.jobs, facts.recordings).get(job_id, JobMatch())
    others = [r.as_status() | {"match": "ambiguous"} for r in match.ambiguous] + [
        r.as_status() | {"match": "not_started_by_confrec"} for r in match.others
    ]
    if match.owned:
        return RecordingView("saved", None, [r.as_status() for r in match.owned], others)
    if match.ambiguous and facts.final_at is None:  # the recording still on its way may settle it
        reason = "its recording could be another job's: waiting for the conference's others"
        return RecordingView("pending", reason, [], others)
    if match.ambiguous:
        reason = (
            "the recordings in its start window cannot be paired one to one with the jobs "
            "whose windows hold them"
        )
        return RecordingView("ambiguous", reason, [], others)
    if facts.final_at is not None:
        reason = (
            f"Telnyx listed no recording for it {conferences.grace_s:g}s after its conference ended"
        )
        return RecordingView("not_saved", reason, [], others)
    if facts.ended_at is not None:
        return RecordingView("pending", "conference ended; waiting for Telnyx to save", [], others)
    return RecordingView("pending", "conference in progress", [], others)


def _duplicate_view(
    ledger: JobLedger, conferences: ConferenceStore, original_id: str, viewer: Principal | None
) -> RecordingView:
    """What a job that sent nothing shows: the recordings of the job that started one,
    followed through duplicates of duplicates (a re-send's outcome names the job that
    last succeeded with its command) — unless that job is not the ``viewer``'s to see."""
    reason = f"sent nothing: a duplicate of {original_id}"
    job_id = original_id
    for _ in range(MAX_DUPLICATE_HOPS):
        original = ledger.record(job_id)
        if original is None:
            return RecordingView("unknown", f"its original job {job_id} is gone")
        if original.outcome is None or not original.outcome.duplicate_of:
            break
        job_id = original.outcome.duplicate_of
    else:
        return RecordingView("unknown", f"{reason}: over {MAX_DUPLICATE_HOPS} duplicates deep")
    if original.window is None:
        return RecordingView("unknown", f"its original job {job_id} is gone")
    if viewer is not None and not viewer.sees(original.principal):
        return RecordingView("unknown", f"{reason}: another principal's, not shown")
    view = recording_view(ledger, conferences, job_id, original)
    return RecordingView(view.state, reason, view.recordings, view.other_recordings)
