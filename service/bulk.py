"""A bulk's body read, parsed and validated item by item, as it arrives.

Each job is validated the moment its item is complete and only the validated job is kept,
so a bulk costs about what its jobs are, not what its JSON was: the 10,001st item is a 413
before another byte is read, and a body over the byte limit a 413 as its size passes it.
Still all or nothing: any problem means no job is enqueued; problems are reported one per
field with its pointer (``/2/format``), the first ``MAX_PROBLEMS`` of them and a count of
the rest, so a 422's size is bounded whatever the bulk holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError

from confrec.service.errors import ApiError, ErrorDict, error, pointer, validation_errors
from confrec.service.jsonstream import JsonStream
from confrec.tasks.job import RecordStartJob

MAX_BULK_JOBS = 10_000
#: 10,000 jobs of ~3.3 KiB each: only a bulk of extreme, fully escaped jobs is refused.
MAX_BULK_BYTES = 32 * 1024 * 1024
#: Problems listed in one 422: enough to fix a file by; the rest are counted.
MAX_PROBLEMS = 1_000


class _Jobs:
    """Validates each item as the stream hands it over; keeps jobs, or else problems."""

    def __init__(self) -> None:
        self.jobs: list[RecordStartJob] = []
        self.problems: list[ErrorDict] = []
        self.unlisted = 0

    def add(self, index: int, item: Any) -> None:
        if not isinstance(item, dict):
            where = pointer(index)
            self._refuse([error("10002", "Invalid parameter", f"{where}: not an object", where)])
            return
        try:
            job = RecordStartJob.model_validate(item)
        except ValidationError as exc:
            self._refuse(validation_errors(exc, index))
            return
        if not self.problems:
            self.jobs.append(job)

    def _refuse(self, problems: list[ErrorDict]) -> None:
        self.jobs.clear()  # never enqueued now: no need to keep them
        room = MAX_PROBLEMS - len(self.problems)
        self.problems += problems[:room]
        self.unlisted += max(0, len(problems) - room)


async def read_bulk(chunks: AsyncIterator[bytes]) -> list[RecordStartJob]:
    """The body's jobs, all valid, in order; or an ``ApiError`` (400, 413, 422)."""
    found = _Jobs()
    stream = JsonStream(found.add, MAX_BULK_JOBS)
    async for chunk in chunks:
        stream.feed(chunk)
    stream.close()
    if not found.problems and not found.jobs:
        found.problems.append(error("10015", "Bad request", "the array holds no job", ""))
    if found.unlisted:
        more = f"{found.unlisted} more problems; the first {MAX_PROBLEMS} are listed"
        found.problems.append(error("10015", "Bad request", more, ""))
    if found.problems:
        raise ApiError(422, *found.problems)
    return found.jobs
