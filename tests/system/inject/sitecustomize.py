"""Fault injection for one worker process (put this folder on its PYTHONPATH).

Makes the real handler raise for conferences named ``inject-always-…`` (every delivery)
and ``inject-once-…`` (the first delivery of each job), so the task's fault path runs
in a real worker with real acks and redeliveries. Nothing else of the worker changes.
"""

from __future__ import annotations

from typing import Any

from confrec.tasks.job import Outcome
from confrec.tasks.record_start import RecordStartHandler

_handle = RecordStartHandler.handle
_raised_once: set[str] = set()


def _faulty_handle(
    self: RecordStartHandler, job_id: str, kwargs: dict[str, Any], **options: Any
) -> Outcome | None:
    conference = str(kwargs.get("conference_id", ""))
    if conference.startswith("inject-always-"):
        raise RuntimeError("injected fault")
    if conference.startswith("inject-once-") and job_id not in _raised_once:
        _raised_once.add(job_id)
        raise RuntimeError("injected fault, once")
    return _handle(self, job_id, kwargs, **options)


RecordStartHandler.handle = _faulty_handle  # type: ignore[method-assign]
