"""What the producer writes to Redis, a few LPUSHes per chunk (tasks/publishing/pushes.py), is
byte for byte what kombu's own publish batch writes, one LPUSH per message: the same
payloads on the same list in the same order (ids, clock and kombu's delivery tags fixed)."""

from __future__ import annotations

import itertools
import json
import uuid

import pytest
import redis
from kombu.transport.virtual import base as kombu_virtual

from confrec.config.settings import Settings
from confrec.tasks.job import RecordStartJob
from confrec.tasks.publishing import producer as producer_module
from confrec.tasks.publishing.producer import Producer
from confrec.worker.app import create_app

QUEUE = "record_start"
JOBS = [
    RecordStartJob.model_validate(
        {"conference_id": f"wire-{i}", "format": "wav" if i % 2 else "mp3"}
        | ({"channels": "dual", "play_beep": True} if i % 3 == 0 else {})
        | ({"labels": {"meeting": f"m{i}"}} if i % 5 == 0 else {})
        | ({"command_id": f"own-{i}"} if i % 7 == 0 else {})
    )
    for i in range(250)
]


def _written(url: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queue's payloads after enqueuing JOBS in chunks of 100, with every id, the
    clock and kombu's delivery tags the same on each run."""
    ids, tags = itertools.count(), itertools.count()
    monkeypatch.setattr(
        producer_module,
        "random_ids",
        lambda n: [str(uuid.UUID(int=next(ids), version=4)) for _ in range(n)],
    )
    monkeypatch.setattr(producer_module, "utc_now", lambda: "2026-12-07T09:00:00.000+00:00")
    monkeypatch.setattr(kombu_virtual, "uuid", lambda: f"tag-{next(tags)}")
    producer = Producer(create_app(Settings(broker_url=url)), QUEUE, chunk_size=100)
    sent = producer.enqueue_many(JOBS, batch="wire-batch")
    assert [one.conference_id for one in sent] == [job.conference_id for job in JOBS]
    written: list[str] = client.lrange(QUEUE, 0, -1)  # type: ignore[assignment]
    client.delete(QUEUE)
    return written


def test_lpushes_of_many_write_what_kombus_batch_writes(
    own_redis_url: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    joined = _written(own_redis_url, client, monkeypatch)
    monkeypatch.setattr(producer_module, "coalescable", lambda producer: False)
    kombus = _written(own_redis_url, client, monkeypatch)
    assert len(joined) == len(JOBS)
    assert joined == kombus
    first = json.loads(joined[-1])  # the list's tail: the first to be popped
    assert (first["headers"]["id"], first["properties"]["delivery_tag"]) == (
        str(uuid.UUID(int=0, version=4)),
        "tag-0",
    )
