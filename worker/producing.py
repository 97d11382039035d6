"""The ledger, the conference store and the producer, built from the settings the same way
for every entry point.

``confrec enqueue``, ``confrec bulk``, ``confrec serve`` and the workers all record into
one ledger: so a job enqueued by any of them is "queued" the moment it is enqueued, and
the worker, the status command and the HTTP service read the same record of it.
"""

from __future__ import annotations

import redis

from confrec.config.settings import Settings
from confrec.tasks.batch_retry import BatchRetry
from confrec.tasks.publishing.producer import Producer
from confrec.tasks.recording_counts import RecordingCounts
from confrec.tasks.store.batches import BatchStore
from confrec.tasks.store.conferences import ConferenceStore
from confrec.tasks.store.ledger import JobLedger
from confrec.tasks.store.recording_counts import RecordingCountStore
from confrec.tasks.store.retry_reads import RetryReads
from confrec.worker.broker.clients import state_client


def create_ledger(settings: Settings, client: redis.Redis | None = None) -> JobLedger:
    return JobLedger(
        client or state_client(settings),
        settings.results_stream,
        maxlen=settings.results_maxlen,
        ttl_s=settings.done_ttl,
        retention_s=settings.results_retention_s,
        replicas=1 if settings.state_is_sentinel else 0,  # Sentinel means a replica to wait for
    )


def create_conferences(settings: Settings, client: redis.Redis | None = None) -> ConferenceStore:
    return ConferenceStore(
        client or state_client(settings),
        settings.recordings_stream,
        maxlen=settings.results_maxlen,
        ttl_s=settings.done_ttl,
        grace_s=settings.recording_grace_s,
    )


def create_recording_counts(
    settings: Settings, client: redis.Redis | None = None
) -> RecordingCounts:
    """Batch jobs' recording states counted from the facts (the stream bounded as the
    results stream)."""
    client = client or state_client(settings)
    store = RecordingCountStore(
        client,
        ttl_s=settings.done_ttl,
        maxlen=settings.results_maxlen,
        retention_s=settings.results_retention_s,
    )
    return RecordingCounts(
        create_ledger(settings, client), create_conferences(settings, client), store
    )


def create_producer(settings: Settings) -> Producer:
    """A producer on these settings' broker that records each job in the ledger first."""
    from confrec.worker.app import create_app  # the Celery app is only built when used

    return Producer(create_app(settings), settings.queue, ledger=create_ledger(settings))


def create_batch_retry(
    settings: Settings, client: redis.Redis | None = None, producer: Producer | None = None
) -> BatchRetry:
    """What ``POST /v1/batches/{id}/retry`` and ``confrec batch retry`` run."""
    state = client or state_client(settings)
    return BatchRetry(
        BatchStore(state),
        RetryReads(state),
        create_conferences(settings, state),
        producer or create_producer(settings),
    )
