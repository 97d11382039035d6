"""A chunk's Redis commands joined into LPUSHes of many messages (tasks/publishing/pushes.py) and
a chunk's ids (tasks/publishing/ids.py), against a channel and client shaped as kombu's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import kombu
import pytest

from confrec.tasks.publishing.ids import random_ids
from confrec.tasks.publishing.pushes import LPUSH_BYTES, Pushes, collecting

Sent = list[tuple[str, tuple[Any, ...]]]


class FakePipeline:
    def __init__(self, sent: Sent, executed: list[Sent]) -> None:
        self.sent = sent
        self.executed = executed

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.sent.append((name, args))

    def execute(self) -> None:
        self.executed.append(list(self.sent))
        self.sent.clear()


class FakeChannel:
    """kombu's Redis channel as the batch meets it: ``basic_publish`` hands the commands
    of a message (here: the message itself, a list of commands) to ``_publish_batch``."""

    def __init__(self) -> None:
        self.executed: list[Sent] = []

    def basic_publish(self, message: Sent, _publish_batch: Pushes, **kwargs: Any) -> None:
        for name, args in message:
            _publish_batch.add(name, *args)

    @contextmanager
    def conn_or_acquire(self) -> Iterator[Any]:
        client = type("Client", (), {})()
        client.pipeline = lambda transaction: FakePipeline([], self.executed)
        yield client


def test_a_run_of_pushes_to_one_list_is_one_lpush_in_order() -> None:
    channel = FakeChannel()
    pushes = Pushes(channel)
    for payload in ("m1", "m2", "m3"):
        pushes.publish(channel, [("lpush", ("q", payload))], exchange="", routing_key="q")
    pushes.send()
    assert channel.executed == [[("lpush", ("q", "m1", "m2", "m3"))]]
    pushes.send()  # forgotten once sent: nothing twice
    assert len(channel.executed) == 1


def test_other_lists_and_other_commands_keep_their_place() -> None:
    """kombu adds a PEXPIRE after each push to a queue with an expiry: never reordered."""
    channel = FakeChannel()
    pushes = Pushes(channel)
    messages = [
        [("lpush", ("a", "1"))],
        [("lpush", ("a", "2"))],
        [("lpush", ("b", "3"))],
        [("lpush", ("b", "4")), ("pexpire", ("b", 10))],
        [("lpush", ("b", "5"))],
    ]
    for message in messages:
        pushes.publish(channel, message)
    pushes.send()
    assert channel.executed == [
        [
            ("lpush", ("a", "1", "2")),
            ("lpush", ("b", "3", "4")),
            ("pexpire", ("b", 10)),
            ("lpush", ("b", "5")),
        ]
    ]


def test_a_long_run_goes_as_several_lpushes_of_bounded_size() -> None:
    """hiredis packs a command of 48 KB or more several times slower per element."""
    channel = FakeChannel()
    pushes = Pushes(channel)
    half = "x" * (LPUSH_BYTES // 2)
    for payload in ("1", "2", "3", "4", "5"):
        pushes.publish(channel, [("lpush", ("q", payload + half))])
    pushes.send()
    ((*sent,),) = channel.executed
    assert [len(args) - 1 for _, args in sent] == [2, 2, 1]
    assert [value[0] for _, (_, *values) in sent for value in values] == list("12345")


def test_collecting_is_the_producers_batch_only_inside_the_block() -> None:
    producer = kombu.Producer(cast(Any, None))  # no channel: nothing is published
    with pytest.raises(ValueError), collecting(producer):
        assert producer._batch_local.current is not None  # type: ignore[attr-defined]
        raise ValueError
    assert getattr(producer._batch_local, "current", None) is None  # type: ignore[attr-defined]
    with collecting(producer), pytest.raises(RuntimeError), collecting(producer):
        pass


def test_random_ids_are_distinct_uuid4_written_as_uuid_writes_them() -> None:
    ids = random_ids(20_000)
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
    assert random_ids(0) == []
