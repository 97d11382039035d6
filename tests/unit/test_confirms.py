"""ChunkConfirms against a channel shaped as py-amqp's: what counts as confirmed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from confrec.tasks.publishing.confirms import ChunkConfirms, PublishNotConfirmed

Ack = tuple[str, int, bool]


class FakeConnection:
    """Delivers queued broker frames to the channel's event callbacks, one per drain."""

    def __init__(self, channel: FakeChannel) -> None:
        self.channel = channel
        self.frames: list[Ack] = []

    def drain_events(self, timeout: float) -> None:
        if not self.frames:
            raise TimeoutError
        kind, tag, multiple = self.frames.pop(0)
        for callback in self.channel.events[kind]:
            callback(tag, multiple)


class FakeChannel:
    def __init__(self) -> None:
        self.events: dict[str, set[Callable[[int, bool], None]]] = {
            "basic_ack": set(),
            "basic_nack": set(),
        }
        self.selected = False
        self.connection = FakeConnection(self)

    def confirm_select(self) -> None:
        self.selected = True


def test_one_multiple_ack_confirms_the_whole_chunk() -> None:
    channel = FakeChannel()
    confirms = ChunkConfirms(channel, timeout=1)
    assert channel.selected
    channel.connection.frames = [("basic_ack", 500, True)]
    confirms.wait(500)
    assert channel.connection.frames == []


def test_single_acks_count_one_each_and_a_later_chunk_waits_for_its_own() -> None:
    channel = FakeChannel()
    confirms = ChunkConfirms(channel, timeout=1)
    channel.connection.frames = [("basic_ack", 2, False), ("basic_ack", 1, False)]
    confirms.wait(2)
    channel.connection.frames = [("basic_ack", 3, False), ("basic_ack", 4, True)]
    confirms.wait(4)


def test_a_nack_fails_the_chunk() -> None:
    channel = FakeChannel()
    confirms = ChunkConfirms(channel, timeout=1)
    channel.connection.frames = [("basic_ack", 1, False), ("basic_nack", 2, False)]
    with pytest.raises(PublishNotConfirmed, match="nacked"):
        confirms.wait(3)


def test_no_confirm_in_time_fails_the_chunk() -> None:
    channel = FakeChannel()
    confirms = ChunkConfirms(channel, timeout=0.05)
    channel.connection.frames = [("basic_ack", 1, True)]
    with pytest.raises(PublishNotConfirmed, match=r"in 0\.05s"):
        confirms.wait(2)
