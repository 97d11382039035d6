"""The Celery app's settings that the guarantees stand on, as the task sees them."""

from __future__ import annotations

from types import SimpleNamespace

import confrec.worker.task  # noqa: F401  (registers the shared task)
from confrec.config.settings import Settings
from confrec.tasks.job import TASK_NAME
from confrec.worker.app import create_app, size_broker_pool

URL = "redis://127.0.0.1:9/0"


def test_the_task_acks_late_and_is_rejected_if_its_worker_is_lost() -> None:
    """Configured once, in the app; the task inherits it (a job acked before its outcome
    is published would be lost with its worker)."""
    app = create_app(Settings(broker_url="redis://127.0.0.1:9/0"))
    task = app.tasks[TASK_NAME]
    assert (task.acks_late, task.reject_on_worker_lost) == (True, True)
    assert (task.serializer, app.conf.accept_content) == ("json", ["json"])


def test_task_events_are_off_until_a_monitor_asks_unless_configured_on() -> None:
    """Off by default (Flower turns them on with enable_events); CONFREC_TASK_EVENTS=1
    sends them from the start, for a monitor that does not ask."""
    assert create_app(Settings(broker_url=URL)).conf.worker_send_task_events is False
    on = create_app(Settings(broker_url=URL, task_events=True))
    assert on.conf.worker_send_task_events is True


def test_the_broker_pool_has_room_for_every_pool_thread_at_the_concurrency_run() -> None:
    """kombu's 10 per pool would be too few for 16 threads acking; ``--concurrency 32``
    on the command line counts, not only CONFREC_CONCURRENCY."""
    app = create_app(Settings(broker_url=URL))
    size_broker_pool(sender=SimpleNamespace(app=app, concurrency=32))
    assert app.conf.broker_transport_options["max_connections"] == 32 + 4


def test_a_rabbitmq_app_gets_no_redis_pool_option() -> None:
    app = create_app(Settings(broker_url="amqp://guest@127.0.0.1:9//", redis_url=URL))
    size_broker_pool(sender=SimpleNamespace(app=app, concurrency=32))
    assert "max_connections" not in app.conf.broker_transport_options
