"""What the ledger holds of one job, read back in one step (``lua/ledger_read.lua``):
for ``confrec status``, the HTTP service and a batch's listings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from confrec.tasks.job import Outcome
from confrec.tasks.matching import JobWindow, StartFacts
from confrec.tasks.store.conferences import parse_start

JobState = Literal["queued", "running", "finished"]
NameState = Literal["pending", "resolved", "name_not_found", "name_ambiguous"]


@dataclass(frozen=True)
class JobRecord:
    """What the ledger holds of a job: for ``confrec status`` and the HTTP service."""

    conference_id: str | None
    command_id: str | None
    enqueued_at: str | None
    """Set by confrec's producer; None for a job another service sent with send_task."""
    deliveries: int
    """Deliveries a worker has started; 0 while the job waits in the queue."""
    attempts: int
    """HTTP attempts sent to Telnyx so far."""
    finished: bool
    """The job has its outcome (published once; see ``publish``)."""
    outcome: Outcome | None
    """That outcome, unless the stream has since been trimmed past it."""
    start: StartFacts | None = None
    """What its 2xx left (window on our clock, clock offset), once stored."""
    region: str | None = None
    name_state: NameState | None = None
    """For a job that addressed its conference by name: how resolving it went."""
    resolved_id: str | None = None
    """The conference id its name resolved to."""
    principal: str | None = None
    """Who enqueued it through ``confrec serve``; None from the CLI or ``send_task``."""
    batch: str | None = None
    """The batch confrec's producer enqueued it in (counted there)."""
    labels: dict[str, str] | None = None
    """Its producer's labels."""
    retry_of: str | None = None
    """The failed job this one sends again (docs/retry.md)."""
    retried_as: str | None = None
    """The job that sent this one again, once retried."""

    @property
    def window(self) -> JobWindow | None:
        """The start window on Telnyx's clock by its own answer's offset."""
        return None if self.start is None else self.start.window(self.start.offset)

    @property
    def state(self) -> JobState:
        if self.finished:
            return "finished"
        return "running" if self.deliveries else "queued"


def parse_record(job_id: str, reply: Any) -> JobRecord | None:
    """``ledger_read.lua``'s reply as a record; None if the job is unknown."""
    known, deliveries, attempts, conference_id, command_id, enqueued_at, entry_id, outcome = reply[
        :8
    ]
    if known != "1":
        return None
    region, name_state, resolved_id, principal, batch, labels, retry_of, retried_as = reply[14:22]
    return JobRecord(
        conference_id=conference_id or None,
        command_id=command_id or None,
        enqueued_at=enqueued_at or None,
        deliveries=int(deliveries),
        attempts=int(attempts),
        finished=bool(entry_id),
        outcome=Outcome.model_validate_json(outcome) if outcome else None,
        start=parse_start(job_id, reply[8:14]),
        region=region or None,
        name_state=name_state or None,
        resolved_id=resolved_id or None,
        principal=principal or None,
        batch=batch or None,
        labels=json.loads(labels) if labels else None,
        retry_of=retry_of or None,
        retried_as=retried_as or None,
    )
