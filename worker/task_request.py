"""The task's request: a failure the task expects reports its reason, not a traceback.

``JobFailed`` (in the task's ``throws``) is raised after a ``failed`` outcome is
published, only so that monitors show the job as FAILURE; its traceback says nothing
but where the task raised it. Celery already logs such an exception without one; this
request also leaves it out of the ``task-failed`` event, so Flower's task page shows the
reason (the event's ``exception``) and no Python traceback. Any other exception keeps it.
"""

from __future__ import annotations

from typing import Any

from celery.worker.request import Request


class ExpectedFailureRequest(Request):
    """Celery's request, but a ``task-failed`` event of an expected exception (one of
    the task's ``throws``) carries no ``traceback`` field."""

    _expected_failure = False

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        exc = exc_info.exception
        exc = getattr(exc, "exc", exc)  # billiard's ExceptionWithTraceback wraps it
        self._expected_failure = isinstance(exc, tuple(self.task.throws or ()))
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def send_event(self, type: str, **fields: Any) -> None:  # Celery's signature
        if type == "task-failed" and self._expected_failure:
            fields.pop("traceback", None)
        super().send_event(type, **fields)
