"""Telnyx's webhook side: signed ``conference.recording.saved`` and ``conference.ended`` events.

The app hands each event's ``data`` (:mod:`confrec.simulator.events`) to
:meth:`WebhookSender.schedule` with a delay (a recording is saved ``recording_seconds``
after it started, plus ``latesaved-MS-``; a conference ends when it ends) and a number of
copies (two with ``dupsaved-``); a task POSTs the event to the URL with httpx, signed as
Telnyx signs (:mod:`confrec.simulator.signing`), a fresh timestamp per attempt — on the
real clock, never the simulator's skewed one, so a receiver's 300 s tolerance still holds.
A non-2xx answer or a transport error is retried after a backoff (0.2 s doubling to 5 s)
until ``max_attempts`` (10) or ``give_up_after_s`` (60 s) is reached; each attempt has its
own timeout (5 s).  ``data`` (and so ``data.id``) stays the same across retries and
duplicates; ``meta.attempt`` counts the attempts of a delivery.

The URL given is the only place anything is sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from confrec.simulator.signing import Signer

__all__ = ["Delivery", "WebhookRetry", "WebhookSender", "check_webhook_url"]


def check_webhook_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL, else ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http:// or https:// URL: {url!r}")
    return url


@dataclass(frozen=True, slots=True)
class WebhookRetry:
    """How hard one delivery tries (defaults as described in the module doc)."""

    first_backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    max_attempts: int = 10
    give_up_after_s: float = 60.0
    timeout_s: float = 5.0


@dataclass(slots=True)
class Delivery:
    """One delivery of one event: ``status`` is the last answer's (0 = no answer)."""

    data: dict[str, Any]
    name: str | None = None  # the conference's name (the simulator's own addition)
    attempts: int = 0
    status: int | None = None
    result: str | None = None  # "sent" or "failed" once finished

    def to_json(self) -> dict[str, Any]:
        payload = self.data["payload"]
        return {
            "id": self.data["id"],
            "event_type": self.data["event_type"],
            "conference_id": payload["conference_id"],
            "conference_name": self.name,
            "recording_id": payload.get("recording_id"),
            "attempts": self.attempts,
            "status": self.status,
            "result": self.result,
        }


@dataclass(slots=True)
class _Book:
    """Counters since the last reset; a reset starts a new book."""

    sent: int = 0  # POSTs answered 2xx
    attempts: int = 0  # POSTs tried
    failed: int = 0  # deliveries given up
    pending: int = 0  # deliveries scheduled or in retry
    finished: list[Delivery] = field(default_factory=list)  # in the order they finished


class WebhookSender:
    """Schedules, signs, sends and retries the webhooks of one simulator.

    Every method runs on the simulator's event loop; the synchronous ones (``schedule``,
    ``reset``, the JSON views) are atomic with respect to requests and deliveries.
    """

    def __init__(
        self, url: str | None, signer: Signer, *, retry: WebhookRetry | None = None
    ) -> None:
        self.url = None if url is None else check_webhook_url(url)
        self.signer = signer
        self.retry = retry or WebhookRetry()
        self._book = _Book()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    def schedule(
        self, data: dict[str, Any], delay_s: float, *, copies: int = 1, name: str | None = None
    ) -> None:
        """Deliver the event ``data`` ``copies`` times, ``delay_s`` from now."""
        if self.url is None:
            return
        loop = asyncio.get_running_loop()
        for _ in range(copies):
            self._book.pending += 1
            task = loop.create_task(self._deliver(self._book, Delivery(data, name), delay_s))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, book: _Book, delivery: Delivery, delay_s: float) -> None:
        try:
            await asyncio.sleep(max(0.0, delay_s))
            await self._until_done(book, delivery)
        finally:
            book.pending -= 1

    async def _until_done(self, book: _Book, delivery: Delivery) -> None:
        retry = self.retry
        first_attempt = time.monotonic()
        backoff_s = retry.first_backoff_s
        while True:
            delivery.attempts += 1
            book.attempts += 1
            delivery.status = await self._post(delivery)
            if 200 <= delivery.status < 300:
                book.sent += 1
                delivery.result = "sent"
                break
            spent_s = time.monotonic() - first_attempt
            if delivery.attempts >= retry.max_attempts or spent_s + backoff_s > (
                retry.give_up_after_s
            ):
                book.failed += 1
                delivery.result = "failed"
                break
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, retry.max_backoff_s)
        book.finished.append(delivery)

    async def _post(self, delivery: Delivery) -> int:
        """One signed attempt; the answer's status, or 0 for no answer (refused, timed out)."""
        assert self.url is not None
        meta = {"attempt": delivery.attempts, "delivered_to": self.url}
        body = json.dumps(
            {"data": delivery.data, "meta": meta}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        headers = self.signer.headers(body, int(time.time()))
        if self._http is None:
            # trust_env off: no proxy from the environment; the URL given is all we reach.
            self._http = httpx.AsyncClient(timeout=self.retry.timeout_s, trust_env=False)
        try:
            response = await self._http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError:
            return 0
        return response.status_code

    def reset(self) -> None:
        """Cancel every pending delivery and forget the counters and deliveries."""
        for task in list(self._tasks):
            task.cancel()
        self._book = _Book()

    async def aclose(self, timeout_s: float = 1.0) -> None:
        """Cancel pending deliveries (waiting at most ``timeout_s``), close the client."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def stats_json(self) -> dict[str, int]:
        """The ``webhooks`` part of ``GET /_sim/stats``."""
        book = self._book
        return {
            "sent": book.sent,
            "attempts": book.attempts,
            "failed": book.failed,
            "pending": book.pending,
        }

    def deliveries_json(self) -> list[dict[str, Any]]:
        """The ``GET /_sim/webhooks`` document: finished deliveries, in finishing order."""
        return [d.to_json() for d in self._book.finished]
