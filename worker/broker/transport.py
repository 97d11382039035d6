"""Reliable fetch for kombu's Redis transport: no message is lost between pop and record.

kombu takes a message off the queue with BRPOP and only afterwards records it in its
``unacked`` hash. A worker killed in between, or while a popped message waits in the
socket for prefetch credit, loses that message for good (kombu#305 and successors).
This channel instead moves the message atomically (``BLMOVE``) into a list of its own
consumer, ``confrec:inflight:<consumer>``, and takes it out of that list in the same
MULTI/EXEC that records it in ``unacked``. From then on kombu's visibility timeout covers
it, as before. Each consumer keeps a heartbeat key alive; any worker's sweeper moves the
in-flight list of a consumer whose heartbeat expired back to the head of its queue, so a
message is never without an owner for longer than the heartbeat's TTL + one sweep
(``worker/broker/heartbeat.py``).

It applies when a channel consumes exactly one queue with a single priority list
(``priority_steps=[0]``, set by ``confrec.worker.app``), which is how ``confrec worker`` consumes
``record_start``; any other layout falls back to kombu's BRPOP and says so once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from time import monotonic, time
from typing import Any

import kombu.transport
import redis
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.json import dumps, loads

from confrec.tasks.store import consumers, keys
from confrec.worker.broker import envelope, heartbeat
from confrec.worker.broker.clients import SentinelURL

log = logging.getLogger(__name__)

# kombu's stubs describe little of its Redis transport: subclass it as the untyped code it is.
_RedisQoS: Any = kombu_redis.QoS
_RedisChannel: Any = kombu_redis.Channel
_RedisTransport: Any = kombu_redis.Transport
_SentinelChannel: Any = kombu_redis.SentinelChannel


def new_consumer_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ReliableQoS(_RedisQoS):  # type: ignore[misc]
    """kombu's QoS, plus: a message fetched by BLMOVE leaves its in-flight list in the
    same transaction that records it as unacked, so it is always in one of the two."""

    channel: ReliableChannel

    def append(self, message: Any, delivery_tag: str) -> None:
        fetched = self.channel.take_fetched()
        if fetched is None:
            super().append(message, delivery_tag)
            return
        inflight, item = fetched
        delivery = message.delivery_info
        record = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: time()})
            pipe.hset(self.unacked_key, delivery_tag, record)
            pipe.lrem(inflight, 1, item)
            pipe.execute()
        virtual.QoS.append(self, message, delivery_tag)


class ReliableChannel(_RedisChannel):  # type: ignore[misc]
    """A Redis channel that fetches with BLMOVE into its consumer's in-flight list."""

    QoS = ReliableQoS
    _closing: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.consumer_id = new_consumer_id()
        self._registered_as: str | None = None
        self._registered_queue = ""
        self._fetched: tuple[str, bytes] | None = None
        self._polling: str | None = None
        self._fell_back = False
        self._shared_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """kombu builds a new ``redis.Redis`` here for every fetch and every ack — about
        0.2 ms of CPU each, for copying its table of reply parsers. One client per pool
        does the same work over the same connections (redis-py clients are thread-safe;
        each command takes a connection from the pool)."""
        if client is None:
            pool = self.pool  # kombu makes a new pool after a reconnect: follow it
            if self._shared_client is None or self._shared_client.connection_pool is not pool:
                self._shared_client = self._create_client()
            client = self._shared_client
        yield client

    # -- fetching ---------------------------------------------------------------------

    def reliable_queue(self) -> str | None:
        """The one queue this channel can fetch reliably, or None (use kombu's BRPOP)."""
        single = len(self.active_queues) == 1 and list(self.priority_steps) == [0]
        if single and not self.global_keyprefix:
            return str(next(iter(self.active_queues)))
        if not self._fell_back:
            self._fell_back = True
            log.warning(
                "reliable fetch needs one queue and priority_steps=[0] (consuming %s); "
                "falling back to BRPOP, which can lose a message if this worker is killed",
                sorted(self.active_queues),
            )
        return None

    def inflight_key(self) -> str:
        return keys.inflight(self.consumer_id)

    def _brpop_start(self, timeout: float | None = None) -> None:
        self._polling = queue = self.reliable_queue()
        if queue is None:
            super()._brpop_start(timeout)
            return
        self._register(queue)
        self._in_poll = self.client.connection
        self._brpop_sent_at = monotonic()
        wait = self.brpop_timeout if timeout is None else timeout
        self.client.connection.send_command(
            "BLMOVE", queue, self.inflight_key(), "RIGHT", "LEFT", wait or 0
        )

    def _brpop_read(self, **options: Any) -> bool:
        queue = self._polling
        if queue is None:
            return bool(super()._brpop_read(**options))
        try:
            try:
                item = self.client.parse_response(self.client.connection, "BLMOVE", **options)
            except self.connection_errors:
                # The reply (maybe a moved message) is lost with the connection: retire
                # this consumer id so the sweeper hands its in-flight list back.
                self.client.connection.disconnect()
                self.consumer_id = new_consumer_id()
                raise
            if item is None:
                raise virtual.Empty()
            return self._deliver_fetched(queue, item)
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()

    def _deliver_fetched(self, queue: str, item: bytes) -> bool:
        inflight = self.inflight_key()
        self._fetched = (inflight, item)
        try:
            payload = envelope.normalized(loads(item.decode()), queue)
            self._queue_cycle.rotate(queue)
            self.connection._deliver(payload, queue)
        except Exception as exc:
            if self.take_fetched() is None:  # recording it may have failed: retire the
                self.consumer_id = new_consumer_id()  # id, the sweeper decides
                raise
            # kombu could not take it: kept, and this worker goes on to the next one
            kind, kept = type(exc).__name__, keys.UNDELIVERABLE
            log.error("a message from queue %s is unusable (%s): kept in %s", queue, kind, kept)
            self._set_aside(inflight, item, envelope.SET_ASIDE)
            raise virtual.Empty() from None
        if self.take_fetched() is not None:  # consumed without ack emulation
            self._set_aside(inflight, item, None)
        return True

    def decode_body(self, body: Any, encoding: str | None = None) -> Any:
        """A body kombu cannot decode (not base64, …) stops no worker: its job ends
        ``invalid`` (``confrec.worker.consumer``)."""
        try:
            return super().decode_body(body, encoding)
        except Exception:
            return envelope.UnreadableBody()

    def take_fetched(self) -> tuple[str, bytes] | None:
        """The (in-flight key, raw message) being delivered now, once."""
        fetched, self._fetched = self._fetched, None
        return fetched

    def _set_aside(self, inflight: str, item: bytes, reason: str | None) -> None:
        with self.conn_or_acquire() as client:
            consumers.set_aside(client, inflight, item, reason)

    # -- ownership --------------------------------------------------------------------

    def _register(self, queue: str) -> None:
        if self._registered_as == self.consumer_id:
            if self._registered_queue == queue:
                return
            # Same channel, another queue (Celery's mingle consumes its reply queue here
            # first): a fresh id, so that each in-flight list goes back to its own queue.
            self.consumer_id = new_consumer_id()
        with self.conn_or_acquire() as client:
            consumers.beat(client, {self.consumer_id: queue})
        self._registered_as, self._registered_queue = self.consumer_id, queue
        self.connection.consumer_heartbeat.watch(self, self.Client(connection_pool=self.pool))

    def registration(self) -> tuple[str, str] | None:
        """(consumer id, queue) while this channel fetches reliably."""
        if self._registered_as is None:
            return None
        return self._registered_as, self._registered_queue

    def release(self) -> None:
        """On a clean close: hand back anything still in flight and end the heartbeat."""
        if self._registered_as is None:
            return
        consumer, self._registered_as = self._registered_as, None
        if self.connection is not None:
            self.connection.consumer_heartbeat.unwatch(self)
        if self.detached():
            return  # its heartbeat lapses and the sweeper hands the list back
        with suppress(redis.RedisError), self.conn_or_acquire() as client:
            consumers.retire(client, consumer)

    def detached(self) -> bool:
        """Whether kombu already took the transport off its connection (``collect`` after a
        connection error, then Celery closes again): this channel cannot reach Redis any
        more, and building a pool would raise AttributeError, which kills the worker. A
        channel closed once already has no connection at all."""
        return self.connection is None or self.connection.client is None

    def close(self) -> None:
        if self._in_poll and not self._closing:
            # Take the pending reply first (kombu would, inside close): a message it
            # carries is then recorded as unacked and restored with the others. A lost
            # connection lost the reply too; _brpop_read retired this consumer id for it.
            self._closing = True
            with suppress(virtual.Empty, *self.connection_errors):
                self._brpop_read()
        self.release()
        if self.detached() and self._qos is not None:
            # Its unacked messages stay in the hash: the visibility timeout restores them.
            self._qos.restore_at_shutdown = False
        super().close()


class ReliableTransport(_RedisTransport):  # type: ignore[misc]
    """kombu's Redis transport with ``ReliableChannel`` and one heartbeat thread."""

    Channel = ReliableChannel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.consumer_heartbeat = heartbeat.Heartbeat()


class ReliableSentinelChannel(ReliableChannel, _SentinelChannel):  # type: ignore[misc]
    """The reliable fetch on kombu's Sentinel channel: its pool asks the sentinels for the
    master and, after a failover, reconnects to the new one (redis-py's
    ``SentinelConnectionPool``).

    The master's credentials and database always come from the URL's first part, as
    confrec's own clients read them (``clients.SentinelURL``): kombu switches to the next
    part after a connection failure and would take them from that part instead — no
    password, or another database."""

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        params: dict[str, Any] = super()._connparams(asynchronous)
        parts = self.connection.client.alt
        if parts:
            url = SentinelURL.parse(";".join(parts))
            params.update(db=url.db, username=url.username, password=url.password)
        return params


class ReliableSentinelTransport(ReliableTransport):
    """kombu's Sentinel transport (``sentinel://``, transport option ``master_name``)
    with ``ReliableSentinelChannel``."""

    Channel = ReliableSentinelChannel
    default_port = kombu_redis.SentinelTransport.default_port


def _failover_keeps_the_reliable_fetch() -> None:
    """kombu fails over between the ``;``-separated parts of a URL (``Connection.switch``)
    and takes the transport from the next part's scheme: after the first broker failure a
    worker would run kombu's own Redis or Sentinel transport — BRPOP, no heartbeat, no
    sweeper — and a message stranded in an in-flight list by the failure would stay there
    for good. So in a process that uses this module, these schemes name ours."""
    cache: dict[str, Any] = getattr(kombu.transport, "_transport_cache", {})
    for scheme, transport in (
        ("redis", "ReliableTransport"),
        ("rediss", "ReliableTransport"),
        ("sentinel", "ReliableSentinelTransport"),
    ):
        kombu.transport.TRANSPORT_ALIASES[scheme] = f"{__name__}:{transport}"
        cache.pop(scheme, None)


_failover_keeps_the_reliable_fetch()
