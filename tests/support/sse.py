"""Reading ``GET /v1/events`` as a client does (``curl -N``): an httpx stream parsed into
Server-Sent Events, every wait bounded by a deadline (the server's heartbeats keep lines
coming, so the deadline is checked at least that often)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    name: str
    event_id: str | None
    data: dict[str, Any]


@dataclass
class EventReader:
    response: httpx.Response
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    last_id: str | None = None
    _lines: Iterator[str] | None = None

    def until(self, done: Callable[[list[Event]], bool], timeout: float, what: str) -> None:
        """Read until ``done(self.events)``; AssertionError after ``timeout`` or at the end."""
        deadline = time.monotonic() + timeout
        lines = self._lines = self._lines or self.response.iter_lines()
        block: dict[str, str] = {}
        while not done(self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:g}s; got {self.events!r}")
            line = next(lines, None)
            if line is None:
                raise AssertionError(f"{what}: the stream ended; got {self.events!r}")
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line:
                name, _, value = line.partition(":")
                block[name] = value.removeprefix(" ")
            else:
                self._dispatch(block)
                block = {}

    def ended(self, timeout: float) -> bool:
        """Whether the server closes the stream within ``timeout`` (reading what comes)."""
        try:
            self.until(lambda _: False, timeout, "the end")
        except AssertionError as exc:
            return "ended" in str(exc)
        return False

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def _dispatch(self, block: Mapping[str, str]) -> None:
        if "id" in block:
            self.last_id = block["id"]
        if "data" in block:
            data = json.loads(block["data"])
            self.events.append(Event(block.get("event", "message"), self.last_id, data))


@contextlib.contextmanager
def open_events(
    http: httpx.Client, url: str, headers: Mapping[str, str], *, status: int = 200
) -> Iterator[EventReader]:
    """A stream of events; asserts its status (an error's body is read) and content type."""
    with http.stream("GET", url, headers=dict(headers), timeout=httpx.Timeout(10)) as response:
        if response.status_code != status:
            response.read()
            raise AssertionError(f"{url}: {response.status_code} {response.text}")
        if status == 200:
            assert response.headers["content-type"].startswith("text/event-stream")
        yield EventReader(response)
