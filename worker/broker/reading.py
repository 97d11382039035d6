"""Reading the broker for ``confrec stats`` and the worker metrics: jobs waiting, jobs in
flight. Reads only; what it reads is kombu's (queue lists, unacked hash) and the reliable
fetch's (``tasks/store/consumers.py``)."""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

from confrec.tasks.store import keys
from confrec.tasks.store.consumers import in_flight_lists

_RedisChannel: Any = kombu_redis.Channel


def queue_depth(client: redis.Redis, queue: str) -> int:
    """Jobs waiting in ``queue``, as kombu's own ``_size`` counts them: over every list a
    producer's priority may have put them in, not only the one this transport fetches."""
    lists = [f"{queue}{_RedisChannel.sep}{p}" if p else queue for p in kombu_redis.PRIORITY_STEPS]
    with client.pipeline(transaction=False) as pipe:
        for name in lists:
            pipe.llen(name)
        return sum(int(n) for n in pipe.execute())


def in_flight(client: redis.Redis) -> int:
    """Messages delivered and not yet acknowledged, over every queue of this database:
    kombu's unacked hash plus every registered consumer's in-flight list.
    ``client`` decodes replies (``decode_responses=True``)."""
    with client.pipeline(transaction=False) as pipe:
        pipe.hlen(_RedisChannel.unacked_key)
        for inflight in in_flight_lists(client):
            pipe.llen(inflight)
        return sum(int(n) for n in pipe.execute())


def oldest_unacked_at(client: redis.Redis) -> float | None:
    """When (Unix time) the oldest delivery still unacknowledged was delivered, as kombu's
    unacked index scores it; its visibility timeout counts from then. None: nothing unacked."""
    rows: list[tuple[str, float]] = client.zrange(  # type: ignore[assignment]
        _RedisChannel.unacked_index_key, 0, 0, withscores=True
    )
    return float(rows[0][1]) if rows else None


def fetched_by_dead(client: redis.Redis) -> int:
    """Messages in the in-flight lists of consumers whose heartbeat has lapsed: the next
    sweep (``tasks/store/consumers.py``) hands them back to their queue."""
    consumers: list[str] = client.hkeys(keys.CONSUMERS)  # type: ignore[assignment]
    with client.pipeline(transaction=False) as pipe:
        for consumer in consumers:
            pipe.exists(keys.consumer_alive(consumer))
            pipe.llen(keys.inflight(consumer))
        replies = pipe.execute()
    return sum(int(n) for alive, n in zip(replies[::2], replies[1::2], strict=True) if not alive)
