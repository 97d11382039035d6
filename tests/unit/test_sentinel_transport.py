"""The Sentinel transport (worker/broker/transport.py) across kombu's failover between the parts
of a ``sentinel://`` URL, without a server: the reliable transport stays, and so do the
first part's password and database."""

from __future__ import annotations

from typing import Any

import kombu
import redis

from confrec.worker.broker.transport import (
    ReliableChannel,
    ReliableSentinelChannel,
    ReliableSentinelTransport,
    ReliableTransport,
)

URL = "sentinel://:pw@s1:26380/2;sentinel://s2:26381;sentinel://s3:26382/2"
NAME = "confrec.worker.broker.transport:ReliableSentinelTransport"
REDIS = "confrec.worker.broker.transport:ReliableTransport"


def connection() -> kombu.Connection:
    return kombu.Connection(URL, transport=NAME, transport_options={"master_name": "m"})


def test_switching_to_the_next_sentinel_keeps_the_reliable_transport() -> None:
    conn = connection()
    assert isinstance(conn.transport, ReliableSentinelTransport)
    for part in conn.alt[1:]:
        conn.switch(part)  # what kombu does after a connection error
        assert isinstance(conn.transport, ReliableSentinelTransport)


def test_switching_to_the_next_redis_keeps_the_reliable_transport() -> None:
    conn = kombu.Connection(
        "redis://r1:6380/0;rediss://r2:6381/0",
        transport="confrec.worker.broker.transport:ReliableTransport",
    )
    for part in conn.alt[1:]:
        conn.switch(part)
        assert isinstance(conn.transport, ReliableTransport)


def connparams(conn: kombu.Connection) -> dict[str, Any]:
    """The channel's connection parameters, from a channel that never connected."""
    channel: Any = ReliableSentinelChannel.__new__(ReliableSentinelChannel)
    channel.connection = conn.transport
    params: dict[str, Any] = channel._connparams()
    return params


def test_every_part_connects_with_the_first_parts_password_and_database() -> None:
    conn = connection()
    for part in conn.alt:
        conn.switch(part)
        params = connparams(conn)
        assert (params["password"], params["db"]) == ("pw", 2), part


def unconnected_channel() -> Any:
    """A ReliableChannel that has not connected (kombu's own __init__ pings Redis)."""
    channel: Any = ReliableChannel.__new__(ReliableChannel)
    channel.connection = kombu.Connection("redis://127.0.0.1:9/0", transport=REDIS).transport
    channel._pool = channel._async_pool = None
    channel._shared_client = None
    channel.Client = redis.Redis
    channel.global_keyprefix = ""
    return channel


def test_every_fetch_and_ack_shares_one_client_on_the_channels_pool() -> None:
    """kombu builds a redis.Redis per ack (~0.2 ms of CPU); ours is built once per pool,
    and follows the pool kombu makes anew after a reconnect."""
    channel = unconnected_channel()
    with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
        assert first is second
        assert first.connection_pool is channel.pool
    channel._pool = None  # kombu drops its pool on a connection error or close
    with channel.conn_or_acquire() as after:
        assert after is not first and after.connection_pool is channel.pool
    given = redis.Redis(connection_pool=channel.pool)
    with channel.conn_or_acquire(given) as client:
        assert client is given
