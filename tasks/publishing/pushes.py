"""A chunk's messages sent to Redis in a few LPUSHes, every message built by kombu.

``kombu.Producer.publish`` builds each message as always (Celery's body serialized,
kombu's envelope, delivery tag, body encoding, the list it goes to); kombu's Redis
channel then hands the command that delivers it to the active publish batch
(``_publish_batch.add('lpush', list, payload)``: kombu 5.7's own batch protocol) instead
of sending it. kombu's batch sends each such command in a pipeline; ``Pushes`` keeps them
and sends a run of LPUSHes to one list as LPUSHes of many elements, which Redis inserts
one after another exactly as the separate commands would: the same payloads, on the same
list, in the same order. Nothing of the message is written here; what changes is one
command per ~20 messages instead of one per message (about a third of kombu's cost per
message went into packing and sending each command).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import kombu
from kombu.transport import redis as kombu_redis

Command = tuple[str, tuple[Any, ...]]
#: Payload per LPUSH. hiredis packs a command of up to ~36 KB at ~0.2 µs an element, one of
#: 48 KB or more at over 1 µs (hiredis 3.5, measured here): a chunk goes as several such
#: LPUSHes, still in one round trip.
LPUSH_BYTES = 24 * 1024


def coalescable(producer: kombu.Producer) -> bool:
    """Whether the producer's channel is kombu's Redis channel (Sentinel's included)."""
    return isinstance(producer.channel, kombu_redis.Channel)


class Pushes:
    """The Redis commands kombu gave for the messages published while it was active."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.commands: list[Command] = []

    def publish(self, channel: Any, message: Any, **kwargs: Any) -> None:
        """Called by ``kombu.Producer`` for each message, as its own batch would be."""
        channel.basic_publish(message, _publish_batch=self, **kwargs)

    def add(self, name: str, *args: Any) -> None:
        """Called by kombu's Redis channel with the command that delivers the message."""
        self.commands.append((name, args))

    def send(self) -> None:
        """The commands in one pipelined round trip, each run of LPUSHes to one list
        joined into LPUSHes of up to ``LPUSH_BYTES``; forgets them."""
        merged: list[tuple[str, list[Any]]] = []
        size = 0
        for name, args in self.commands:
            last = merged[-1] if merged else ("", [None])
            if name == last[0] == "lpush" and last[1][0] == args[0] and size < LPUSH_BYTES:
                last[1].extend(args[1:])
            else:
                merged.append((name, list(args)))
                size = 0
            size += sum(len(value) for value in args[1:]) if name == "lpush" else 0
        self.commands = []
        if not merged:
            return
        with self.channel.conn_or_acquire() as client:
            pipe = client.pipeline(transaction=False)
            for name, values in merged:
                getattr(pipe, name)(*values)
            pipe.execute()


@contextmanager
def collecting(producer: kombu.Producer) -> Iterator[Pushes]:
    """``producer.publish`` hands its messages' commands to a ``Pushes`` meanwhile (in
    the place kombu keeps its own active batch: ``Producer.batch``)."""
    local: Any = producer._batch_local  # type: ignore[attr-defined]  # kombu 5.7, no stubs
    if getattr(local, "current", None) is not None:
        raise RuntimeError("the producer is in a publish batch already")
    pushes = local.current = Pushes(producer.channel)
    try:
        yield pushes
    finally:
        del local.current
