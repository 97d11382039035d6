"""Redis clients (worker/broker/clients.py): sentinel:// URLs read as kombu reads them, and the
clients built from them — master name, passwords, timeouts — without a server."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from confrec.config.settings import REDIS_CONNECT_TIMEOUT_S, Settings
from confrec.worker.broker.clients import (
    SENTINEL_PORT,
    SentinelURL,
    broker_client,
    redis_client,
    state_client,
)

THREE = "sentinel://:pw@s1:26380;sentinel://s2:26381;sentinel://s3/0"


@pytest.fixture(autouse=True)
def no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFREC_REDIS_URL", raising=False)


def test_kombus_form_names_every_sentinel_and_takes_credentials_from_the_first() -> None:
    parsed = SentinelURL.parse(THREE)
    assert parsed.sentinels == (("s1", 26380), ("s2", 26381), ("s3", SENTINEL_PORT))
    assert (parsed.db, parsed.username, parsed.password) == (0, None, "pw")


@pytest.mark.parametrize(
    ("url", "db", "username", "password"),
    [
        ("sentinel://s1:1", 0, None, None),
        ("sentinel://s1:1/3;sentinel://s2:2", 3, None, None),
        ("sentinel://s1:1/3;sentinel://s2:2/3", 3, None, None),
        ("sentinel://user:p%40ss@s1:1;sentinel://:p%40ss@s2:2", 0, "user", "p@ss"),
        (" sentinel://s1:1 ; SENTINEL://s2:2/ ", 0, None, None),
    ],
)
def test_parts_may_repeat_the_first_parts_database_and_password(
    url: str, db: int, username: str | None, password: str | None
) -> None:
    parsed = SentinelURL.parse(url)
    assert (parsed.db, parsed.username, parsed.password) == (db, username, password)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sentinel://s1:1;sentinel://s2:2/5", "database is read from the first"),
        ("sentinel://:a@s1:1;sentinel://:b@s2:2", "password is read from the first"),
        ("sentinel://s1:1;redis://s2:2", "sentinel://host:port"),
        ("sentinel://", "sentinel://host:port"),
        ("", "sentinel://host:port"),
        ("sentinel://s1:1/zero", "must be a number"),
    ],
)
def test_a_url_kombu_would_read_otherwise_is_refused_without_its_password(
    url: str, says: str
) -> None:
    with pytest.raises(ValueError, match=says) as refused:
        SentinelURL.parse(url)
    assert ":a@" not in str(refused.value) and ":b@" not in str(refused.value)


def sentinel_pool(client: redis.Redis) -> Any:
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    return pool


def test_a_sentinel_client_asks_for_the_named_master_with_the_masters_password() -> None:
    client = redis_client(THREE, master_name="orders", socket_timeout=42)
    pool = sentinel_pool(client)
    assert pool.service_name == "orders" and pool.is_master
    master = pool.connection_kwargs
    assert master["password"] == "pw" and master["db"] == 0
    assert master["decode_responses"] is True
    assert (master["socket_timeout"], master["socket_connect_timeout"]) == (
        42,
        REDIS_CONNECT_TIMEOUT_S,
    )
    manager = pool.sentinel_manager
    assert [(s.connection_pool.connection_kwargs["host"]) for s in manager.sentinels] == [
        "s1",
        "s2",
        "s3",
    ]
    # The sentinels get bounded waits of their own and never the master's password.
    # (Only what confrec sets is asserted: redis-py adds keys of its own, e.g. `retry`.)
    assert manager.sentinel_kwargs["socket_connect_timeout"] == REDIS_CONNECT_TIMEOUT_S
    assert manager.sentinel_kwargs["socket_timeout"] == REDIS_CONNECT_TIMEOUT_S
    assert manager.sentinel_kwargs.get("password") is None
    for sentinel in manager.sentinels:
        kwargs = sentinel.connection_pool.connection_kwargs
        assert kwargs.get("password") is None
        assert kwargs["socket_connect_timeout"] == REDIS_CONNECT_TIMEOUT_S
        assert kwargs["socket_timeout"] == REDIS_CONNECT_TIMEOUT_S


def test_sentinels_with_a_password_of_their_own() -> None:
    client = redis_client(THREE, master_name="m", sentinel_password="sentinel-pw")
    manager = sentinel_pool(client).sentinel_manager
    assert manager.sentinel_kwargs["password"] == "sentinel-pw"
    assert manager.sentinels[0].connection_pool.connection_kwargs["password"] == "sentinel-pw"


def test_a_sentinel_url_without_a_master_name_is_refused() -> None:
    with pytest.raises(ValueError, match="CONFREC_SENTINEL_MASTER"):
        redis_client(THREE)


def test_a_redis_url_builds_a_plain_client_as_before() -> None:
    client = redis_client("redis://:pw@h:6380/2", master_name="ignored")
    kwargs = client.connection_pool.connection_kwargs
    assert not isinstance(client.connection_pool, SentinelConnectionPool)
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == (
        "h",
        6380,
        2,
        "pw",
    )
    assert kwargs["decode_responses"] is True


def test_broker_and_state_clients_use_the_settings_master_name() -> None:
    settings = Settings(broker_url=THREE, sentinel_master="prod-master")
    assert sentinel_pool(broker_client(settings)).service_name == "prod-master"
    assert sentinel_pool(state_client(settings)).service_name == "prod-master"
    split = Settings(broker_url=THREE, redis_url="redis://state:6379/1")
    assert not isinstance(state_client(split).connection_pool, SentinelConnectionPool)


def test_a_sentinel_url_is_masked_part_by_part() -> None:
    settings = Settings(broker_url=THREE)
    assert "pw" not in settings.safe_broker_url + settings.safe_state_url
    assert settings.safe_broker_url.count("sentinel://") == 3
