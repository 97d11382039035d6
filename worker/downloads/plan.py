"""What to download: the recordings of one job, or of every job of a batch.

A job's recordings are what its status shows (``confrec.tasks.status``): each is taken by
its ``recording_id`` only — its stored links are never used. A batch's jobs are the
outcomes in the results stream that carry its id (a job without an outcome has started
no recording yet). A recording shown on two jobs (a re-sent job shows its original's) is
downloaded once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confrec.tasks.status import JobStatus
from confrec.worker.downloads.fetch import Wanted


@dataclass
class Plan:
    wanted: list[Wanted] = field(default_factory=list)
    without: dict[str, str] = field(default_factory=dict)
    """Jobs with no recording to download, and why (``pending``, ``failed``, …)."""

    def reasons(self) -> Counter[str]:
        return Counter(self.without.values())


def recordings_of(status: JobStatus) -> list[dict[str, Any]]:
    """The job's recordings as its status shows them (``recording_id`` at the top)."""
    return [shown for shown in status.recordings if isinstance(shown.get("recording_id"), str)]


def why_none(status: JobStatus) -> str:
    """Why a job has no recording to download, in a word or two."""
    state, reason = status.recording.state, status.recording.reason
    if state is not None and state != "saved":
        return f"{state} ({reason})" if reason else state
    if status.outcome is None:
        return f"{status.state}, no outcome yet"
    if status.outcome.status == "failed":
        return f"failed ({status.outcome.reason}): no recording was started"
    return "no recording saved yet"


def plan(statuses: Iterable[JobStatus]) -> Plan:
    """Every recording of these jobs, once each, in the jobs' order."""
    result, seen = Plan(), set[str]()
    for status in statuses:
        records = recordings_of(status)
        if not records:
            result.without[status.job_id] = why_none(status)
        for record in records:
            recording_id = record["recording_id"]
            if recording_id in seen:
                continue
            seen.add(recording_id)
            folder = status.conference_id or record.get("conference_id") or status.job_id
            given = record.get("format")
            fmt = given if isinstance(given, str) else None
            wanted = Wanted(status.job_id, recording_id, str(folder), fmt, status.labels)
            result.wanted.append(wanted)
    return result


def statuses(
    job_ids: Iterable[str], read: Callable[[str], JobStatus | None]
) -> Iterable[JobStatus]:
    """Each job's status as ``read`` finds it; jobs it no longer knows are left out."""
    for job_id in job_ids:
        found = read(job_id)
        if found is not None:
            yield found
