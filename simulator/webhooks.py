"""Telnyx's webhook side: a signed ``conference.recording.saved`` per recording started.

With a webhook URL, each request that *started* a recording (a 200 that was not a
de-duplicated repeat) schedules one delivery (two with ``dupsaved-``): the recording is
"saved" ``recording_seconds`` later (plus ``latesaved-MS-``), and a task POSTs the event
to the URL with httpx, signed as Telnyx signs (:mod:`confrec.simulator.signing`), a fresh
timestamp per attempt.  A non-2xx answer or a transport error is retried after a backoff
(0.2 s doubling to 5 s) until ``max_attempts`` (10) or ``give_up_after_s`` (60 s) is
reached; each attempt has its own timeout (5 s).  ``data`` (and so ``data.id``) stays the
same across retries and duplicates; ``meta.attempt`` counts the attempts of a delivery.

The URL given is the only place anything is sent: the recording URLs in the payload
point at a host that does not exist (``sim.telnyx.invalid``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from confrec.simulator.signing import Signer

__all__ = [
    "Delivery",
    "SavedRecording",
    "WebhookRetry",
    "WebhookSender",
    "check_webhook_url",
    "saved_event",
]

EVENT_TYPE = "conference.recording.saved"
RECORDINGS_ROOT = "https://sim.telnyx.invalid"
FAKE_CONNECTION_ID = "1111111111111111111"


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


@dataclass(frozen=True, slots=True)
class SavedRecording:
    """What a request that started a recording asked for."""

    conference_id: str
    format: str
    channels: str
    started_at: float  # unix seconds


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def saved_event(rec: SavedRecording, recording_seconds: float) -> dict[str, Any]:
    """The ``data`` of the event: fresh ids, saved ``recording_seconds`` after the start."""
    recording_id = str(uuid.uuid4())
    ended_at = rec.started_at + recording_seconds
    file_name = f"{recording_id}.{rec.format}"
    return {
        "record_type": "event",
        "event_type": EVENT_TYPE,
        "id": str(uuid.uuid4()),
        "occurred_at": _iso(ended_at),
        "payload": {
            "conference_id": rec.conference_id,
            "recording_id": recording_id,
            "format": rec.format,
            "channels": rec.channels,
            "recording_started_at": _iso(rec.started_at),
            "recording_ended_at": _iso(ended_at),
            "recording_urls": {rec.format: f"{RECORDINGS_ROOT}/recordings/{file_name}"},
            "public_recording_urls": {
                rec.format: f"{RECORDINGS_ROOT}/public/recordings/{file_name}"
            },
            "connection_id": FAKE_CONNECTION_ID,
            "call_control_id": f"v3:{secrets.token_urlsafe(33)}",
            "call_session_id": str(uuid.uuid4()),
            "client_state": None,
        },
    }


@dataclass(slots=True)
class Delivery:
    """One delivery of one event: ``status`` is the last answer's (0 = no answer)."""

    data: dict[str, Any]
    attempts: int = 0
    status: int | None = None
    result: str | None = None  # "sent" or "failed" once finished

    def to_json(self) -> dict[str, Any]:
        payload = self.data["payload"]
        return {
            "id": self.data["id"],
            "conference_id": payload["conference_id"],
            "recording_id": payload["recording_id"],
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
    """Schedules, signs, sends and retries the saved webhooks of one simulator.

    Every method runs on the simulator's event loop; the synchronous ones (``schedule``,
    ``reset``, the JSON views) are atomic with respect to requests and deliveries.
    """

    def __init__(
        self,
        url: str | None,
        signer: Signer,
        *,
        recording_seconds: float = 1.0,
        retry: WebhookRetry | None = None,
    ) -> None:
        if not 0 <= recording_seconds < float("inf"):
            raise ValueError("recording_seconds must be a finite number >= 0")
        self.url = None if url is None else check_webhook_url(url)
        self.signer = signer
        self.recording_seconds = recording_seconds
        self.retry = retry or WebhookRetry()
        self._book = _Book()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    def schedule(self, rec: SavedRecording, *, late_ms: float = 0.0, copies: int = 1) -> None:
        """Deliver the saved event of ``rec`` ``copies`` times, once it is saved (+ late_ms)."""
        if self.url is None:
            return
        data = saved_event(rec, self.recording_seconds)
        delay_s = self.recording_seconds + late_ms / 1000.0
        loop = asyncio.get_running_loop()
        for _ in range(copies):
            self._book.pending += 1
            task = loop.create_task(self._deliver(self._book, Delivery(data), delay_s))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, book: _Book, delivery: Delivery, delay_s: float) -> None:
        try:
            await asyncio.sleep(delay_s)
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
