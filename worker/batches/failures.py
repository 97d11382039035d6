"""The failed rows of a batch, for ``bulk --wait``'s summary: which row (its line in the
file), which conference, why, and what Telnyx answered.

A failure is kept small while the batch is followed (``Failure``: a few strings, not the
outcome); its place in the batch (``seq``, in the job's state since it was enqueued) is
read once at the end for all of them, a pipelined round trip per ``SEQ_CHUNK`` jobs, and
turned into the file's line through the line numbers the enqueue pass kept.
"""

from __future__ import annotations

from array import array
from dataclasses import asdict, dataclass, replace
from typing import Any

import redis

from confrec.tasks.job import Outcome
from confrec.tasks.store import keys

#: Failed jobs whose place in the batch one pipelined round trip reads.
SEQ_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Failure:
    """What the summary shows of one failed job: a few strings, not its whole outcome,
    so a batch with many failures stays small while it is followed."""

    job_id: str
    """For ``confrec status JOB_ID``."""
    conference_id: str
    reason: str
    http_status: int | None
    code: str | None
    """Telnyx's first error code and title, when it answered with errors."""
    title: str | None
    detail: str | None
    """Why the last attempt got no answer (e.g. ``ReadTimeout``), when none came."""
    seq: int | None = None
    line: int | None = None

    @classmethod
    def of(cls, outcome: Outcome) -> Failure:
        first = outcome.errors[0] if outcome.errors else None
        return cls(
            job_id=outcome.job_id,
            conference_id=outcome.conference_id,
            reason=outcome.reason,
            http_status=outcome.http_status,
            code=first.code if first else None,
            title=first.title if first else None,
            detail=outcome.detail,
        )

    def as_dict(self) -> dict[str, Any]:
        """Its JSON in ``bulk --wait --json``'s ``failed_rows``: where first."""
        fields = asdict(self)
        return {"line": fields.pop("line"), "seq": fields.pop("seq")} | fields

    def text(self) -> str:
        """One line: ``line 12  'conf'  rejected  http=404  90058 Invalid conference_id``."""
        where = f"line {self.line}" if self.line is not None else f"job #{self.seq or '?'}"
        http = self.http_status if self.http_status is not None else "-"
        telnyx = f"{self.code} {self.title}" if self.code or self.title else self.detail or ""
        return (
            f"{where}  {self.conference_id!r}  {self.reason}  http={http}  {telnyx}  "
            f"job {self.job_id}"
        )


def placed(client: redis.Redis, failures: list[Failure], lines: array[int] | None) -> list[Failure]:
    """``failures`` with each one's place in its batch and, given the file's ``lines``
    (``lines[seq - 1]``), its line; in batch order (unplaced last)."""
    out: list[Failure] = []
    for start in range(0, len(failures), SEQ_CHUNK):
        chunk = failures[start : start + SEQ_CHUNK]
        with client.pipeline(transaction=False) as pipe:
            for failure in chunk:
                pipe.hget(keys.job_state(failure.job_id), "seq")
            seqs = pipe.execute()
        for failure, raw in zip(chunk, seqs, strict=True):
            seq = int(raw) if raw else None
            line = lines[seq - 1] if lines is not None and seq and seq <= len(lines) else None
            out.append(replace(failure, seq=seq, line=line))
    return sorted(out, key=lambda f: (f.seq is None, f.seq or 0))
