"""The simulator's clock: ours plus a skew, and how Telnyx writes the times it reports.

Telnyx's clock is not ours.  ``SimClock`` keeps every internal time on *our* clock (the
one passed in; ``time.time`` unless a test gives another) and shifts only what is
reported — payload timestamps, ``created_at``/``updated_at``/``expires_at``, the HTTP
``Date`` header — by ``skew_s``.  Webhook signature timestamps are not shifted (see
:mod:`confrec.simulator.webhooks`), so webhooks still verify.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DateHeader", "SimClock", "amz_date", "iso", "parse_amz_date", "parse_iso"]

AMZ_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, slots=True)
class SimClock:
    """``now()`` is our clock; ``telnyx(t)`` is what Telnyx's clock read at our ``t``."""

    now: Callable[[], float] = time.time
    skew_s: float = 0.0

    def telnyx(self, t: float) -> float:
        return t + self.skew_s

    def telnyx_now(self) -> float:
        return self.now() + self.skew_s


def iso(t: float) -> str:
    """ISO-8601 in UTC with microseconds and ``Z``, as Telnyx writes its times."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> float | None:
    """Unix seconds of an ISO-8601 time (``Z`` or an offset; naive = UTC); None if not one."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def amz_date(t: float) -> str:
    """``X-Amz-Date`` of a presigned link: whole seconds, UTC."""
    return datetime.fromtimestamp(int(t), UTC).strftime(AMZ_FORMAT)


def parse_amz_date(text: str) -> float | None:
    try:
        return datetime.strptime(text, AMZ_FORMAT).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


class DateHeader:
    """ASGI middleware: every HTTP answer gets a ``Date`` on Telnyx's clock.

    The server runs with uvicorn's own date header off (:mod:`confrec.simulator.server`), so
    this is the only one; a client measuring Telnyx's clock offset reads the skewed time.
    """

    def __init__(self, app: ASGIApp, clock: SimClock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"date" for name, _ in headers):
                    date = formatdate(self.clock.telnyx_now(), usegmt=True)
                    headers.append((b"date", date.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_dated)
