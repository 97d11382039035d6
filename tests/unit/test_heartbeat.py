"""The heartbeat thread (worker/broker/heartbeat.py) across a reconnect: the channel that lost its
broker is unwatched while a beat still waits on the dead Redis, the new channel is watched
before that beat gives up, and the thread must carry on for it, through its client."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from confrec.worker.broker import heartbeat
from tests.support.waiting import wait_until


class Owner:
    def __init__(self, consumer: str) -> None:
        self.consumer = consumer

    def registration(self) -> tuple[str, str] | None:
        return self.consumer, "q"


@pytest.fixture
def beats(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, str]]]:
    """Every beat as (client, consumers); a client "blocking" waits until it is set."""
    seen: list[tuple[Any, dict[str, str]]] = []

    def beat(client: Any, consumers: dict[str, str]) -> None:
        seen.append((client, consumers))
        if isinstance(client, threading.Event):
            client.wait(5)

    monkeypatch.setattr(heartbeat, "BEAT_INTERVAL_S", 0.01)
    monkeypatch.setattr(heartbeat, "beat", beat)
    monkeypatch.setattr(heartbeat, "sweep", lambda client: 0)
    return seen


def test_an_owner_watched_while_a_beat_hangs_keeps_the_thread(beats: list[Any]) -> None:
    hb = heartbeat.Heartbeat()
    dead_broker = threading.Event()
    old, new = Owner("old"), Owner("new")
    hb.watch(old, dead_broker)  # type: ignore[arg-type]
    wait_until(lambda: bool(beats), 2, "the beat that hangs on the dead broker")
    hb.unwatch(old)  # the channel closed after its connection died, mid-beat
    hb.watch(new, "new client")  # type: ignore[arg-type]  # the reconnected channel
    dead_broker.set()  # the hanging beat gives up

    wait_until(lambda: ("new client", {"new": "q"}) in beats, 2, "a beat for the new owner")
    assert hb.running()
    hb.unwatch(new)
    wait_until(lambda: not hb.running(), 2, "the thread to end with no owner")


def test_the_thread_restarts_for_an_owner_after_it_ended(beats: list[Any]) -> None:
    hb = heartbeat.Heartbeat()
    first = Owner("a")
    hb.watch(first, "c1")  # type: ignore[arg-type]
    wait_until(lambda: ("c1", {"a": "q"}) in beats, 2, "a beat")
    hb.unwatch(first)
    wait_until(lambda: not hb.running(), 2, "the thread to end")
    second = Owner("b")
    hb.watch(second, "c2")  # type: ignore[arg-type]
    wait_until(lambda: ("c2", {"b": "q"}) in beats, 2, "a beat after the restart")
    hb.unwatch(second)
    wait_until(lambda: not hb.running(), 2, "the thread to end again")
