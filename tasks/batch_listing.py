"""A batch's jobs, a page at a time: what ``GET /v1/batches/{id}/jobs`` and ``confrec
batch --failed/--not-saved`` show of each.

The page's ids come from the batch's own lists (``BatchStore.jobs``: one list, or one
label's jobs); each job's item is its status as ``GET /v1/jobs/{id}`` computes it (same
outcome, same recording state and links), with its place in the batch and its labels.
Asked for a label *and* a list, the label's page is read and the jobs not in the list
are left out of it: such a page may hold fewer than ``limit`` jobs while its cursor
still continues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confrec.tasks.principal import Principal
from confrec.tasks.status import JobStatus, job_status
from confrec.tasks.store.batches import BatchStore
from confrec.tasks.store.conferences import ConferenceStore
from confrec.tasks.store.ledger import JobLedger

_STATES = frozenset({"queued", "running", "finished"})
_STATUSES = frozenset({"succeeded", "failed"})
_REASONS = frozenset({"ok", "rejected", "retries_exhausted", "invalid"})


@dataclass(frozen=True)
class JobsPage:
    batch: str
    jobs: list[dict[str, Any]]
    cursor: str | None
    """Where the next page starts; None: this was the last."""

    def as_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "jobs": self.jobs, "cursor": self.cursor}


@dataclass(frozen=True)
class JobQuery:
    """Which jobs of a batch: a list of ``keys.BATCH_LISTS`` and/or a label (key, value),
    a page of ``limit`` from ``cursor``."""

    list_name: str = "all"
    label: tuple[str, str] | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True)
class BatchReader:
    """Reads a batch's jobs with the stores serve and the CLI already hold."""

    store: BatchStore
    ledger: JobLedger
    conferences: ConferenceStore

    def page(self, batch_id: str, query: JobQuery, viewer: Principal | None = None) -> JobsPage:
        """One page of the jobs ``query`` asks for; ``viewer`` as for ``job_status``
        (None: the CLI, which sees every job)."""
        name, label = query.list_name, query.label
        ids = self.store.jobs(batch_id, name, label=label, limit=query.limit, cursor=query.cursor)
        items = []
        for job_id, seq in zip(ids.items, ids.seqs, strict=True):
            found = job_status(self.ledger, self.conferences, job_id, viewer)
            filtered = label is not None and name != "all"
            if filtered and (found is None or not in_list(found, name)):
                continue
            items.append(job_item(job_id, seq, found))
        return JobsPage(batch_id, items, ids.cursor)

    def every(self, batch_id: str, list_name: str, page_size: int = 500) -> list[dict[str, Any]]:
        """Every job of one list, page after page (the CLI's ``--failed``)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.page(batch_id, JobQuery(list_name, None, page_size, cursor))
            found += page.jobs
            if page.cursor is None:
                return found
            cursor = page.cursor


def in_list(status: JobStatus, name: str) -> bool:
    """Whether a job is in the batch list ``name``, judged from its status."""
    outcome = status.outcome
    if name == "all":
        return True
    if name in _STATES:
        return status.state == name
    if name in _STATUSES:
        return outcome is not None and outcome.status == name
    if name in _REASONS:
        return outcome is not None and outcome.reason == name
    if name == "already_done":
        return outcome is not None and outcome.duplicate_of is not None
    return status.recording.state == name


def job_item(job_id: str, seq: int, status: JobStatus | None) -> dict[str, Any]:
    """One job of a batch listing; every key present, None where it is not known (a job
    whose state has expired has only its id and place)."""
    outcome = status.outcome if status else None
    errors = (
        [{"code": e.code, "title": e.title, "detail": e.detail} for e in outcome.errors]
        if outcome
        else []
    )
    return {
        "job_id": job_id,
        "seq": seq,
        "conference_id": status.conference_id if status else None,
        "command_id": status.command_id if status else None,
        "labels": status.labels if status else None,
        "state": status.state if status else None,
        "status": outcome.status if outcome else None,
        "reason": outcome.reason if outcome else None,
        "http_status": outcome.http_status if outcome else None,
        "attempts": outcome.attempts if outcome else None,
        "errors": errors,
        "detail": outcome.detail if outcome else None,
        "duplicate_of": outcome.duplicate_of if outcome else None,
        "retry_of": getattr(outcome, "retry_of", None),
        "recording_state": status.recording.state if status else None,
        "recording_reason": status.recording.reason if status else None,
        "recordings": status.recordings if status else [],
    }
