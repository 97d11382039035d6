"""Redis clients, built in one place so that none of them can wait forever.

redis-py's defaults have no socket timeout: a server that stops answering (a network
partition, a paused VM) would hang a worker thread, a CLI wait or a sweeper for good.
"""

from __future__ import annotations

import redis

from confrec.config.settings import REDIS_CONNECT_TIMEOUT_S, REDIS_SOCKET_TIMEOUT_S, Settings


def redis_client(url: str, *, socket_timeout: float = REDIS_SOCKET_TIMEOUT_S) -> redis.Redis:
    """A pooled client with connect and read timeouts; raise ``socket_timeout`` for
    blocking reads (XREAD BLOCK) that legitimately wait longer. Replies are ``str``
    (``decode_responses``): every key and value confrec writes is UTF-8 text."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        socket_timeout=socket_timeout,
        health_check_interval=30,
    )


def state_client(settings: Settings) -> redis.Redis:
    """The Redis that holds outcomes, the job ledger and the rate limit."""
    return redis_client(settings.state_url)
