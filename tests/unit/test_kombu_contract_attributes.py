"""The kombu and redis-py internals that confrec's reliable fetch (worker/broker/transport.py)
uses beyond what it overrides, checked against the versions installed: a kombu, Celery or
redis-py upgrade that renames or removes one of them, or changes what it takes, fails
here, naming it, instead of quietly losing the "nothing lost" guarantee. pyproject.toml
bounds these packages; docs/installing.md says how to move the bounds, and what to do
when this test fails.

The private attributes the transport uses are listed here (PRIVATE_ATTRIBUTES and
INSTANCE_ATTRIBUTES), and the state its channel adds (OUR_STATE). The overrides:
test_kombu_contract_overrides.py."""

from __future__ import annotations

import inspect
from typing import Any

import kombu
import kombu.transport
import pytest
import redis
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils import json as kombu_json

from confrec.worker.broker import transport
from tests.support.kombu_contract import HOWTO, WHERE, callable_of, resolve

#: What the transport uses from kombu and redis-py beyond what it overrides, as
#: "module:qualified.name".
PRIVATE_ATTRIBUTES = [
    # ReliableChannel: fetching, delivering, closing
    "kombu.transport.redis:Channel._brpop_start",
    "kombu.transport.redis:Channel._brpop_read",
    "kombu.transport.redis:Channel._flush_brpop_reauth",
    "kombu.transport.redis:Channel._in_poll",
    "kombu.transport.redis:Channel._brpop_sent_at",
    "kombu.transport.redis:Channel._closing",
    "kombu.transport.redis:Channel._create_client",
    "kombu.transport.redis:Channel._connparams",
    "kombu.transport.redis:Channel.conn_or_acquire",
    "kombu.transport.redis:Channel.pool",
    "kombu.transport.redis:Channel.client",
    "kombu.transport.redis:Channel.sep",  # also worker/broker/reading.py (confrec stats)
    "kombu.transport.redis:Channel.unacked_key",  # also reading.py
    "kombu.transport.redis:Channel.unacked_index_key",
    "kombu.transport.redis:Channel.priority_steps",
    "kombu.transport.redis:Channel.global_keyprefix",
    "kombu.transport.redis:Channel.active_queues",
    "kombu.transport.redis:Channel.close",
    "kombu.transport.redis:PRIORITY_STEPS",  # reading.py: a queue's lists
    "kombu.transport.redis:SentinelTransport.default_port",
    "kombu.transport.virtual:Empty",
    "kombu.transport.virtual:Transport._deliver",
    # ReliableQoS.append
    "kombu.transport.redis:QoS.append",
    "kombu.transport.redis:QoS.pipe_or_acquire",
    "kombu.transport.redis:QoS.unacked_key",
    "kombu.transport.redis:QoS.unacked_index_key",
    "kombu.transport.redis:QoS.restore_at_shutdown",
    "kombu.transport.virtual:QoS.append",
    # failover keeps the reliable transport (_failover_keeps_the_reliable_fetch)
    "kombu.transport:TRANSPORT_ALIASES",
    "kombu.transport:_transport_cache",
    "kombu.utils.json:dumps",
    "kombu.utils.json:loads",
    # redis-py, as _brpop_start/_brpop_read drive the BLMOVE by hand
    "redis:Redis.parse_response",
    "redis.connection:AbstractConnection.send_command",
    "redis.connection:AbstractConnection.disconnect",
]

#: Set by kombu's Channel.__init__ (not on the class) and used by the transport.
INSTANCE_ATTRIBUTES = [
    "_queue_cycle",
    "_qos",
    "_pool",
    "Client",
    "brpop_timeout",
    "connection_errors",
    "connection",
]

#: What ReliableChannel.__init__ adds to a channel: kombu must not set these itself.
OUR_STATE = {
    "consumer_id",
    "_registered_as",
    "_registered_queue",
    "_fetched",
    "_polling",
    "_fell_back",
    "_shared_client",
}


@pytest.mark.parametrize("path", PRIVATE_ATTRIBUTES)
def test_every_kombu_and_redis_py_attribute_the_transport_uses_still_exists(path: str) -> None:
    try:
        resolve(path)
    except (AttributeError, ImportError):
        pytest.fail(f"{path} is gone, and {WHERE} uses it; {HOWTO}")


def test_the_methods_the_transport_calls_keep_the_arguments_it_passes() -> None:
    """The calls the transport makes itself (not kombu's calls into its overrides)."""
    calls = {
        # super()._brpop_start(timeout), super()._brpop_read(**options)
        "kombu.transport.redis:Channel._brpop_start": (("self", "timeout"), {}),
        "kombu.transport.redis:Channel._brpop_read": (("self",), {"timeout": 1}),
        "kombu.transport.redis:Channel._flush_brpop_reauth": (("self",), {}),
        "kombu.transport.redis:Channel._create_client": (("self",), {}),
        "kombu.transport.redis:Channel._connparams": (("self", "asynchronous"), {}),
        "kombu.transport.redis:QoS.pipe_or_acquire": (("self",), {}),
        "kombu.transport.virtual:QoS.append": (("self", "message", "delivery_tag"), {}),
        # self.connection._deliver(payload, queue)
        "kombu.transport.virtual:Transport._deliver": (("self", "message", "queue"), {}),
        # client.parse_response(connection, "BLMOVE", **options)
        "redis:Redis.parse_response": (("self", "connection", "command_name"), {"timeout": 1}),
        # connection.send_command("BLMOVE", source, destination, "RIGHT", "LEFT", timeout)
        "redis.connection:AbstractConnection.send_command": (("self",) + ("arg",) * 6, {}),
    }
    for path, (args, kwargs) in calls.items():
        function = callable_of(resolve(path))
        assert function is not None, f"{path} is no longer a method; {HOWTO}"
        try:
            inspect.signature(function).bind(*args, **kwargs)
        except TypeError as error:
            pytest.fail(
                f"{path}{inspect.signature(function)} no longer takes what {WHERE} passes "
                f"({error}); {HOWTO}"
            )


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """A kombu Channel and a ReliableChannel, built by kombu's own __init__ without a server
    (its check that Redis answers is stubbed)."""
    monkeypatch.setattr(redis.Redis, "ping", lambda self, **_: True)
    url = "redis://127.0.0.1:9/0"  # never connected
    plain = kombu.Connection(url, transport=kombu_redis.Transport).channel()
    reliable = kombu.Connection(url, transport=transport.ReliableTransport).channel()
    assert isinstance(reliable, transport.ReliableChannel)
    return plain, reliable


def test_kombus_channel_still_sets_what_the_transport_uses(channels: tuple[Any, Any]) -> None:
    _, reliable = channels
    for name in INSTANCE_ATTRIBUTES:
        assert hasattr(reliable, name), (
            f"kombu.transport.redis.Channel no longer sets self.{name}, which {WHERE} uses; {HOWTO}"
        )
    assert callable(reliable._queue_cycle.rotate), f"Channel._queue_cycle.rotate; {HOWTO}"
    assert callable(reliable.connection._deliver), f"Transport._deliver; {HOWTO}"
    assert hasattr(redis.Redis(), "connection"), f"redis.Redis().connection; {HOWTO}"


def test_kombu_does_not_set_what_reliable_channel_adds(channels: tuple[Any, Any]) -> None:
    plain, reliable = channels
    added = set(vars(reliable)) - set(vars(plain))
    clash = OUR_STATE - added
    assert not clash, (
        f"kombu's Channel now sets {sorted(clash)} itself, which ReliableChannel ({WHERE}) "
        f"uses for its own state; {HOWTO}"
    )
    assert added == OUR_STATE, f"ReliableChannel's own state changed: update OUR_STATE ({added})"


def test_a_kombu_message_keeps_its_raw_payload_and_delivery_info(
    channels: tuple[Any, Any],
) -> None:
    """ReliableQoS.append records ``message._raw`` and ``message.delivery_info`` as
    kombu's QoS.append does."""
    _, channel = channels
    payload = channel.prepare_message(b"{}", 0, "application/json", "utf-8", {}, {})
    payload["properties"]["delivery_info"] = {"exchange": "x", "routing_key": "rk"}
    payload["properties"]["delivery_tag"] = "tag-1"
    message = channel.Message(payload, channel=channel)
    assert message._raw is payload, f"kombu's Message._raw; {HOWTO}"
    info = message.delivery_info
    assert (info["exchange"], info["routing_key"]) == ("x", "rk"), f"delivery_info; {HOWTO}"
    assert kombu_json.loads(kombu_json.dumps([payload])) == [payload]


def test_the_redis_and_sentinel_schemes_resolve_to_the_reliable_transports() -> None:
    """_failover_keeps_the_reliable_fetch: kombu still resolves a scheme through
    TRANSPORT_ALIASES (after a failover, Connection.switch resolves the next part's)."""
    for scheme, cls in (
        ("redis", transport.ReliableTransport),
        ("rediss", transport.ReliableTransport),
        ("sentinel", transport.ReliableSentinelTransport),
    ):
        resolved: Any = kombu.transport.resolve_transport(scheme)
        assert resolved is cls, (
            f"kombu.transport.resolve_transport({scheme!r}) no longer gives {cls.__name__}; {HOWTO}"
        )
    assert isinstance(virtual.Empty(), Exception)
