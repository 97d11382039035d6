"""One log line per request: who (the principal's name, never the token), what (method,
route template), how it ended (status, jobs enqueued) and how long it took.

Plain ASGI, as ``RequestMetrics``: the line is written when the answer has gone, and the
route's own code adds what only it knows (``note``) to a record kept in the request's
scope. Route templates, not paths: a path holds ids, and an unknown path any text at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("confrec.requests")

_KEY = "confrec.request"


@dataclass
class _Record:
    principal: str = "-"
    jobs: int = 0
    status: int = 500


def note(request: Request, *, principal: str | None = None, jobs: int | None = None) -> None:
    """Add the caller's principal or the count of jobs enqueued to this request's line."""
    record = request.scope.get(_KEY)
    if not isinstance(record, _Record):
        return
    if principal is not None:
        record.principal = principal
    if jobs is not None:
        record.jobs = jobs


class RequestLog:
    """ASGI middleware writing each HTTP request's line once it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._logged(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        record = scope[_KEY] = _Record()

        def sending(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            return send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            took_ms = (time.perf_counter() - started) * 1000
            route = getattr(scope.get("route"), "path", "unmatched")
            log.info(
                "principal=%s method=%s route=%s status=%d jobs=%d ms=%.1f",
                *(record.principal, scope["method"], route, record.status, record.jobs, took_ms),
            )
