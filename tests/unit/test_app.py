"""The Celery app's settings that the guarantees stand on, as the task sees them."""

from __future__ import annotations

import confrec.worker.task  # noqa: F401  (registers the shared task)
from confrec.config.settings import Settings
from confrec.tasks.job import TASK_NAME
from confrec.worker.app import create_app


def test_the_task_acks_late_and_is_rejected_if_its_worker_is_lost() -> None:
    """Configured once, in the app; the task inherits it (a job acked before its outcome
    is published would be lost with its worker)."""
    app = create_app(Settings(broker_url="redis://127.0.0.1:9/0"))
    task = app.tasks[TASK_NAME]
    assert (task.acks_late, task.reject_on_worker_lost) == (True, True)
    assert (task.serializer, app.conf.accept_content) == ("json", ["json"])
