"""Which job started which recording: decided from the facts, never from their order.

Telnyx's recordings carry no command_id, only the conference and the moment recording
began — on Telnyx's clock, possibly before our 2xx arrived. So each job that started a
recording has a *start window* (first attempt that may have reached Telnyx → its 2xx,
moved to Telnyx's clock and widened by the skew bound; ``JobWindow``), and recordings are
assigned to jobs one to one in time order among jobs whose windows hold the start and
whose format and channels match. ``assign`` is a pure function of the stored facts, so
whatever order deliveries, outcomes and webhooks arrive in, the answer is the same.

Where the facts cannot tell — one recording two jobs could own, two jobs whose windows
neither precede nor follow each other — every job concerned is ``ambiguous``: a wrong
answer would be worse than none. A recording in no job's window was started by something
else (another tool, a person, a re-send after Telnyx's de-duplication window) and is shown
on the conference's jobs as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from confrec.tasks.recording import Recording


@dataclass(frozen=True)
class JobWindow:
    """A job's start window on Telnyx's clock (Unix seconds) and what it asked for."""

    job_id: str
    lo: float
    hi: float
    format: str | None = None
    channels: str | None = None

    def could_own(self, rec: Recording) -> bool:
        start = rec.started_ts
        in_window = start is None or self.lo <= start <= self.hi
        return in_window and _same(self.format, rec.format) and _same(self.channels, rec.channels)


@dataclass(frozen=True)
class StartFacts:
    """What a job's 2xx left: its window on our clock and the clock offset it saw."""

    job_id: str
    first: float
    """Our clock: the first attempt that may have reached Telnyx."""
    answered: float
    """Our clock: the 2xx."""
    offset: float
    """Telnyx's clock minus ours, as this 2xx's ``Date`` header tells it."""
    bound: float
    """How far both ends are widened (CONFREC_CLOCK_SKEW_S)."""
    format: str | None = None
    channels: str | None = None

    def window(self, offset: float) -> JobWindow:
        """The window on Telnyx's clock, moved by ``offset`` and widened by the bound."""
        lo, hi = self.first + offset - self.bound, self.answered + offset + self.bound
        return JobWindow(self.job_id, lo, hi, self.format, self.channels)


def conference_windows(starts: Iterable[StartFacts]) -> list[JobWindow]:
    """The windows of one conference's jobs, all moved by one offset: the median of what
    their answers saw. ``Date`` has whole seconds, so each answer's own offset is off by
    up to a second, differently for each; one shift for all keeps the order our own clock
    saw them in, to the millisecond."""
    starts = list(starts)
    offsets = sorted(s.offset for s in starts)
    if not offsets:
        return []
    middle = offsets[len(offsets) // 2]
    return [s.window(middle) for s in starts]


@dataclass
class JobMatch:
    owned: list[Recording] = field(default_factory=list)
    """The recording this job started (at most one)."""
    ambiguous: list[Recording] = field(default_factory=list)
    """Recordings this job or another could own; the facts cannot tell which."""
    others: list[Recording] = field(default_factory=list)
    """Recordings on the conference no confrec job started."""


def assign(jobs: Iterable[JobWindow], recordings: Iterable[Recording]) -> dict[str, JobMatch]:
    """Every job's match on one conference."""
    jobs = sorted(jobs, key=lambda j: (j.lo, j.hi, j.job_id))
    recs = sorted(recordings, key=lambda r: (r.started_ts or 0.0, r.recording_id))
    matches = {job.job_id: JobMatch() for job in jobs}
    candidates = {r.recording_id: [j for j in jobs if j.could_own(r)] for r in recs}
    unclaimed = [r for r in recs if not candidates[r.recording_id]]
    for group_jobs, group_recs in _groups(jobs, recs, candidates):
        _settle(group_jobs, group_recs, candidates, matches)
    for match in matches.values():
        match.others = list(unclaimed)
    return matches


def _settle(
    jobs: list[JobWindow],
    recs: list[Recording],
    candidates: dict[str, list[JobWindow]],
    matches: dict[str, JobMatch],
) -> None:
    """One connected group: time order when it decides, forced pairs, else ambiguous."""
    if len(jobs) == len(recs) and _strictly_ordered(jobs):
        pairs = list(zip(jobs, recs, strict=True))
        if all(job.could_own(rec) for job, rec in pairs):
            for job, rec in pairs:
                matches[job.job_id].owned.append(rec)
            return
    jobs_left, recs_left = list(jobs), list(recs)
    forced = True
    while forced:
        forced = False
        for rec in recs_left:
            owners = [j for j in candidates[rec.recording_id] if j in jobs_left]
            if len(owners) != 1:
                continue
            job = owners[0]
            if [r for r in recs_left if job in candidates[r.recording_id]] == [rec]:
                matches[job.job_id].owned.append(rec)
                jobs_left.remove(job)
                recs_left.remove(rec)
                forced = True
                break
    for job in jobs_left:
        matches[job.job_id].ambiguous = [r for r in recs_left if job in candidates[r.recording_id]]


def _strictly_ordered(jobs: list[JobWindow]) -> bool:
    """Each window begins and ends after the one before: Telnyx met them in this order."""
    return all(a.lo < b.lo and a.hi < b.hi for a, b in pairwise(jobs))


def _groups(
    jobs: list[JobWindow], recs: list[Recording], candidates: dict[str, list[JobWindow]]
) -> list[tuple[list[JobWindow], list[Recording]]]:
    """Jobs and recordings joined by could-own links, each group in time order."""
    parent = {job.job_id: job.job_id for job in jobs}

    def root(job_id: str) -> str:
        while parent[job_id] != job_id:
            parent[job_id] = parent[parent[job_id]]
            job_id = parent[job_id]
        return job_id

    for owners in candidates.values():
        for other in owners[1:]:
            parent[root(other.job_id)] = root(owners[0].job_id)
    groups: dict[str, tuple[list[JobWindow], list[Recording]]] = {}
    for job in jobs:
        groups.setdefault(root(job.job_id), ([], []))[0].append(job)
    for rec in recs:
        owners = candidates[rec.recording_id]
        if owners:
            groups[root(owners[0].job_id)][1].append(rec)
    return list(groups.values())


def _same(asked: str | None, got: str | None) -> bool:
    return asked is None or got is None or asked == got
