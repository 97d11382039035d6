"""Redis clients, built in one place so that none of them can wait forever.

redis-py's defaults have no socket timeout: a server that stops answering (a network
partition, a paused VM) would hang a worker thread, a CLI wait or a sweeper for good.

A ``sentinel://`` URL (kombu's form, ``sentinel://[:password@]host:port;sentinel://host2:port2/0``)
gives a client of the master the sentinels name: redis-py's ``SentinelConnectionPool``
asks them on every new connection, so after a failover the next reconnect (a failed
command's retry, or the next command) reaches the new master.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis import sentinel

from confrec.config.settings import REDIS_CONNECT_TIMEOUT_S, REDIS_SOCKET_TIMEOUT_S, Settings

# redis-py's Sentinel is untyped: called as the untyped code it is.
_Sentinel: Any = sentinel.Sentinel

#: kombu's default port of a sentinel (``kombu.transport.redis.SentinelTransport``).
SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelURL:
    """A ``sentinel://`` URL read as kombu reads it: every ``;``-separated part names one
    sentinel; credentials and the database come from the first part (a later part may
    repeat them, not contradict them); the master's name is not in the URL."""

    sentinels: tuple[tuple[str, int], ...]
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SentinelURL:
        parts = [urlsplit(part.strip()) for part in url.split(";") if part.strip()]
        if not parts or any(p.scheme.lower() != "sentinel" or not p.hostname for p in parts):
            raise ValueError("a sentinel URL is sentinel://host:port, ';'-separated")
        first = parts[0]
        db, username, password = (
            _db(first.path),
            _unquoted(first.username),
            _unquoted(first.password),
        )
        for later in parts[1:]:
            if later.path.strip("/") and _db(later.path) != db:
                raise ValueError(
                    "sentinel URL: the database is read from the first sentinel's part "
                    "(as kombu does); a later part names another one"
                )
            if later.password is not None and _unquoted(later.password) != password:
                raise ValueError(
                    "sentinel URL: the password is read from the first sentinel's part "
                    "(as kombu does); a later part has another one"
                )
        sentinels = tuple((str(p.hostname), p.port or SENTINEL_PORT) for p in parts)
        return cls(sentinels, db, username, password)


def _db(path: str) -> int:
    name = path.strip("/")
    if name and not name.isdigit():
        raise ValueError("sentinel URL: the database after '/' must be a number")
    return int(name or 0)


def _unquoted(value: str | None) -> str | None:
    return unquote(value) if value else None


def redis_client(
    url: str,
    *,
    socket_timeout: float = REDIS_SOCKET_TIMEOUT_S,
    master_name: str | None = None,
    sentinel_password: str | None = None,
    max_connections: int | None = None,
) -> redis.Redis:
    """A pooled client with connect and read timeouts; raise ``socket_timeout`` for
    blocking reads (XREAD BLOCK) that legitimately wait longer. Replies are ``str``
    (``decode_responses``): every key and value confrec writes is UTF-8 text.
    ``max_connections``: the pool's bound where redis-py's default (100) is too few.

    A ``sentinel://`` URL needs ``master_name`` (``CONFREC_SENTINEL_MASTER``); the URL's
    password is the master's, ``sentinel_password`` the sentinels' own, if they have one."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        "socket_timeout": socket_timeout,
        "health_check_interval": 30,
    }
    if max_connections is not None:
        options["max_connections"] = max_connections
    if not url.lower().startswith("sentinel://"):
        return redis.Redis.from_url(url, **options)
    if not master_name:
        raise ValueError("a sentinel:// URL needs the master's name (CONFREC_SENTINEL_MASTER)")
    parsed = SentinelURL.parse(url)
    # The sentinels answer short queries: the connect timeout bounds both waits on them.
    asking: dict[str, Any] = {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        "socket_timeout": REDIS_CONNECT_TIMEOUT_S,
    }
    if sentinel_password:
        asking["password"] = sentinel_password
    sentinels = _Sentinel(list(parsed.sentinels), sentinel_kwargs=asking, **options)
    client: redis.Redis = sentinels.master_for(
        master_name, db=parsed.db, username=parsed.username, password=parsed.password
    )
    return client


def broker_client(
    settings: Settings, *, socket_timeout: float = REDIS_SOCKET_TIMEOUT_S
) -> redis.Redis:
    """The broker's Redis (``CONFREC_BROKER_URL`` when it is Redis or Sentinel)."""
    return redis_client(
        settings.broker_url, socket_timeout=socket_timeout, master_name=settings.sentinel_master
    )


def state_client(settings: Settings) -> redis.Redis:
    """The Redis that holds outcomes, the job ledger and the rate limit."""
    return redis_client(settings.state_url, master_name=settings.sentinel_master)
