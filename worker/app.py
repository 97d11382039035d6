"""The Celery app and its configuration.

JSON only; late acks with reject-on-worker-lost so a job whose worker dies is redelivered;
the visibility timeout comes from Settings, which has checked it exceeds the longest job.
Task events are off until a monitor asks for them (Flower does, within a second of
starting under ``confrec flower``): nobody pays for them while nobody watches.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_after_setup,
    worker_init,
    worker_ready,
    worker_shutdown,
)
from kombu import Exchange, Queue
from kombu.utils.url import maybe_sanitize_url

from confrec.config.settings import (
    MISSING_API_KEY,
    REDIS_CONNECT_TIMEOUT_S,
    REDIS_SOCKET_TIMEOUT_S,
    RESTORE_INTERVAL_S,
    RESTORE_MUTEX_EXPIRE_S,
    Settings,
    get_settings,
)
from confrec.tasks.job import TASK_NAME
from confrec.worker import redaction
from confrec.worker.exitcodes import ExitCode

log = logging.getLogger(__name__)

#: Broker connections a worker process needs besides one per pool thread.
BROKER_CONNECTIONS_BESIDE_THREADS = 4


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app for these settings (producers and workers use the same one)."""
    s = settings or get_settings()
    app = Celery("confrec", broker=s.broker_url, include=["confrec.worker.task"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_default_queue=s.queue,
        task_routes={TASK_NAME: {"queue": s.queue}},
        worker_send_task_events=s.task_events,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=True,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_pool_limit=max(10, s.concurrency),
        # Each message judged before Celery's handler: no message stops a worker.
        worker_consumer="confrec.worker.consumer:GatedConsumer",
    )
    if s.broker_is_amqp:
        app.conf.update(_rabbitmq_conf(s))
    else:
        app.conf.update(_redis_conf(s))
    return app


def worker_queues(settings: Settings) -> list[str]:
    """What ``confrec worker`` consumes: the queue, and on RabbitMQ its dead letters too,
    so that a message past the delivery limit still ends in an outcome."""
    if settings.broker_is_amqp:
        return [settings.queue, settings.dead_letter_queue]
    return [settings.queue]


def _redis_conf(s: Settings) -> dict[str, Any]:
    transport = "ReliableSentinelTransport" if s.broker_is_sentinel else "ReliableTransport"
    options: dict[str, Any] = {
        "visibility_timeout": s.visibility_timeout,
        "unacked_restore_interval": RESTORE_INTERVAL_S,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": RESTORE_MUTEX_EXPIRE_S,
        # One list per queue: what the reliable fetch (BLMOVE) can take atomically.
        "priority_steps": [0],
        "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
    }
    if s.broker_is_sentinel:
        options["master_name"] = s.sentinel_master
    return {
        "broker_transport": f"confrec.worker.broker.transport:{transport}",
        "broker_transport_options": options,
    }


def _rabbitmq_conf(s: Settings) -> dict[str, Any]:
    """A quorum queue (replicated; a dead consumer's messages are redelivered at once),
    publisher confirms, and a delivery limit whose dead letters go to a queue of their
    own, at least once, instead of being dropped."""
    quorum = {"x-queue-type": "quorum"}
    exchange = Exchange(s.queue, type="topic")  # topic: what native delayed delivery needs
    queue = Queue(
        s.queue,
        exchange,
        routing_key=s.queue,
        queue_arguments={
            **quorum,
            "x-delivery-limit": s.delivery_limit,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": s.dead_letter_queue,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )
    # Dead letters arrive through the default exchange, by the queue's name.
    dead = Queue(
        s.dead_letter_queue, exchange, routing_key=s.dead_letter_queue, queue_arguments=quorum
    )
    return {
        "task_queues": [queue, dead],
        "broker_transport_options": {
            "confirm_publish": True,
            "connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        },
        "broker_connection_timeout": REDIS_CONNECT_TIMEOUT_S,
        "broker_heartbeat": 30,
    }


@worker_init.connect
def size_broker_pool(sender: Any, **_: Any) -> None:
    """kombu's Redis channel allows 10 connections per pool, and redis-py raises past
    that; but every pool thread acks through it, beside the consumer's fetches, the
    restore sweep and the heartbeat. Sized here, from the concurrency the worker really
    got (``--concurrency`` included), before its broker connection exists."""
    conf = sender.app.conf
    on_redis = str(conf.broker_transport or "").startswith("confrec.worker.broker.transport:")
    if on_redis and isinstance(sender.concurrency, int):
        conf.broker_transport_options["max_connections"] = (
            sender.concurrency + BROKER_CONNECTIONS_BESIDE_THREADS
        )


@worker_init.connect
def _check_settings(**_: Any) -> None:
    """``celery -A confrec.worker.app worker`` gets the same checks as ``confrec worker``."""
    settings = get_settings()
    if settings.telnyx_api_key is None:
        print(f"error: {MISSING_API_KEY}", file=sys.stderr)
        raise SystemExit(ExitCode.INVALID)
    # Per-request and per-task lines carry no secrets, but at fleet scale they are noise
    # and CPU: confrec logs one line per outcome instead (confrec.tasks.record_start).
    for chatty in ("httpx", "celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if not settings.redelivery_within_dedupe_window:
        log.warning(
            "CONFREC_VISIBILITY_TIMEOUT=%gs: a job whose worker dies may be redelivered "
            "after Telnyx's 60 s command_id window and could start a second recording",
            settings.visibility_timeout,
        )


@celeryd_after_setup.connect
def _log_telnyx_url(**_: Any) -> None:
    """Which Telnyx this worker sends to (the real API, a simulator, a proxy), once logging
    is set up (``worker_init`` comes before it): the URL, any password in it masked."""
    log.info("sending to Telnyx at %s", maybe_sanitize_url(get_settings().telnyx_base_url))


@worker_ready.connect
def _start_reconciler(**_: Any) -> None:
    """The worker holds the API key, so reconciliation runs here: a thread in the main
    process works the schedule in Redis (``confrec.worker.reconciling``)."""
    from confrec.worker import reconciling

    reconciling.start(get_settings())


@worker_shutdown.connect
def _stop_reconciler(**_: Any) -> None:
    from confrec.worker import reconciling

    reconciling.stop()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_secrets_in_logs(logger: logging.Logger, **_: Any) -> None:
    """Whatever a library puts in a log line or traceback, the API key is masked."""
    settings = get_settings()
    secrets = [settings.telnyx_api_key.get_secret_value()] if settings.telnyx_api_key else []
    redaction.install(logger, secrets)


app = create_app()
