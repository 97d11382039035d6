"""The Starlette application standing in for Telnyx: ``record_start``, the read calls, files.

``POST /v2/conferences/{id}/actions/record_start`` is decided on arrival
(:mod:`confrec.simulator.decide`), then the reply waits ``latency_ms`` plus any ``slow-MS-``
delay (an ``asyncio.sleep``, so hundreds of slow requests can be in flight at once on one
thread).  A recording it started gets its ``conference.recording.saved`` webhook scheduled
(:mod:`confrec.simulator.webhooks`, only with a webhook URL).  Conferences live
``conference_seconds`` (or ``endafter-S-``); a timer ends each when it is due and sends
``conference.ended``.  The read calls are :mod:`confrec.simulator.listing`'s, the files
behind the links :mod:`confrec.simulator.files`', test hooks under ``/_sim/``
:mod:`confrec.simulator.introspect`'s; serving is in :mod:`confrec.simulator.server`.

Internally every time is on the clock given (``SimOptions.clock``, ``time.time`` by default,
so unit tests can pass their own); what the simulator *reports* is that clock plus
``clock_skew_s`` (:mod:`confrec.simulator.times`).  Bearer tokens are never logged or echoed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from confrec.simulator import errors
from confrec.simulator.auth import bearer_ok
from confrec.simulator.conferences import Conference, ConferenceBook
from confrec.simulator.decide import SimConfig, decide
from confrec.simulator.drop import DropConnection
from confrec.simulator.events import ended_event, saved_event
from confrec.simulator.files import Links, file_routes, public_base
from confrec.simulator.introspect import introspection_routes, route_error
from confrec.simulator.listing import Api, conference_item, listing_routes
from confrec.simulator.signing import Signer, parse_signing_key
from confrec.simulator.state import SimState
from confrec.simulator.times import DateHeader, SimClock, iso
from confrec.simulator.webhooks import WebhookRetry, WebhookSender

__all__ = ["SimOptions", "Simulator", "conference_id_from_path", "create_app"]

ROUTE_PREFIX = "/v2/conferences/"
ROUTE_SUFFIX = "/actions/record_start"
MAX_RECORDING_BYTES = 1 << 30


@dataclass(frozen=True, slots=True)
class SimOptions:
    """Everything a simulator can be started with (the ``confrec simulate`` options)."""

    api_key: str | None = None
    """The bearer to accept; None accepts any non-empty one."""
    latency_ms: float = 0.0
    dedupe_window_s: float = 60.0
    limit_rps: float | None = None
    webhook_url: str | None = None
    """Where signed webhooks go; None sends none."""
    recording_seconds: float = 1.0
    signing_key: str | None = None
    """Base64 of a 32-byte Ed25519 seed; None: a fresh random key."""
    webhook_retry: WebhookRetry | None = None
    """A shorter webhook retry policy, for tests."""
    conference_seconds: float = 3600.0
    """A conference's lifetime (``endafter-S-`` overrides), then ``time_exceeded``."""
    start_lag_ms: float = 0.0
    """``recording_started_at`` is the request's arrival plus this."""
    clock_skew_s: float = 0.0
    """Telnyx's clock minus ours, in every time reported (not webhook signatures)."""
    public_url: str | None = None
    """Root of the file links; None: the address a request reached the simulator at."""
    link_expires_s: int = 600
    recording_bytes: int = 64 * 1024
    clock: Callable[[], float] = time.time
    """Our clock; tests pass their own."""


def conference_id_from_path(raw_path: str) -> str | None:
    """Percent-decode the single ``{id}`` segment of the *raw* request path.

    Working from the raw path (ASGI's ``raw_path``, not the decoded ``path``) keeps ``%2F`` inside
    the id instead of turning it into a path separator.  Returns None when the
    id is empty or spans several raw segments.
    """
    if not (raw_path.startswith(ROUTE_PREFIX) and raw_path.endswith(ROUTE_SUFFIX)):
        return None
    segment = raw_path[len(ROUTE_PREFIX) : -len(ROUTE_SUFFIX)]
    if not segment or "/" in segment:
        return None
    return unquote(segment, errors="strict")


def _check(o: SimOptions) -> None:
    if o.latency_ms < 0:
        raise ValueError("latency_ms must be >= 0")
    if not 0 <= o.recording_seconds < float("inf"):
        raise ValueError("recording_seconds must be a finite number >= 0")
    if not abs(o.clock_skew_s) < float("inf"):
        raise ValueError("clock_skew_s must be a finite number")
    if not 0 <= o.recording_bytes <= MAX_RECORDING_BYTES:
        raise ValueError(f"recording_bytes must be 0..{MAX_RECORDING_BYTES}")


class Simulator:
    """One simulator: its knobs, state and webhooks, and the ASGI ``app`` serving them.

    Every instance has fresh, independent state.
    """

    def __init__(self, options: SimOptions | None = None) -> None:
        o = options or SimOptions()
        _check(o)
        self.options = o
        self.cfg = SimConfig(api_key=o.api_key, latency_ms=o.latency_ms)
        self.clock = SimClock(o.clock, o.clock_skew_s)
        self.state = SimState(dedupe_window_s=o.dedupe_window_s, limit_rps=o.limit_rps)
        self.book = ConferenceBook(
            lifetime_s=o.conference_seconds,
            recording_seconds=o.recording_seconds,
            start_lag_s=o.start_lag_ms / 1000.0,
        )
        self.links = Links(self.clock, o.link_expires_s)
        seed = None if o.signing_key is None else parse_signing_key(o.signing_key)
        self.hooks = WebhookSender(o.webhook_url, Signer(seed), retry=o.webhook_retry)
        self._timer: asyncio.Task[None] | None = None
        self._timer_at: float | None = None
        api = Api(self.state, self.book, self.links, o.api_key, o.public_url, self.tick)
        routes = [
            Route(ROUTE_PREFIX + "{id:path}" + ROUTE_SUFFIX, self.record_start, methods=["POST"]),
            *listing_routes(api),
            *file_routes(self.book, self.links, o.recording_bytes),
            *introspection_routes(self.state, self.hooks, self),
        ]
        self.app = Starlette(
            routes=routes,
            exception_handlers={HTTPException: route_error},
            lifespan=self._lifespan,
            middleware=[Middleware(DateHeader, clock=self.clock)],
        )
        self.app.router.redirect_slashes = False  # "/x/" is not "/x": a 404, never a redirect

    @property
    def public_key(self) -> str:
        """Base64 of the 32-byte Ed25519 key webhooks verify with."""
        return self.hooks.signer.public_key

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if self._timer is not None:
                self._timer.cancel()
            await self.hooks.aclose()

    # -- conference lifetimes ---------------------------------------------------

    def tick(self) -> float:
        """End every conference that is due (sending ``conference.ended``); returns now."""
        now = self.clock.now()
        for conf in self.book.due(now):
            self._announce_end(conf)
        self._arm(now)
        return now

    def _announce_end(self, conf: Conference) -> None:
        if not conf.plan.no_end_hook:
            self.hooks.schedule(ended_event(conf, self.links), 0.0, name=conf.name)

    def _arm(self, now: float) -> None:
        """Keep one timer waiting for the next conference to expire."""
        due = self.book.next_expiry()
        if due is None or (self._timer_at is not None and self._timer_at <= due):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = due
        self._timer = asyncio.get_running_loop().create_task(self._wake(due - now))

    async def _wake(self, delay_s: float) -> None:
        await asyncio.sleep(max(0.0, delay_s))
        self._timer, self._timer_at = None, None
        self.tick()

    # -- Controls (the /_sim/ routes) -----------------------------------------

    def reset(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, None
        self.state.reset()
        self.book.reset()
        self.hooks.reset()

    def end_conference(self, ref: str, region: str | None) -> tuple[int, dict[str, Any]]:
        now = self.tick()
        conf = self.book.find(ref, region)
        if conf is None:
            return 404, errors.errors_body(errors.resource_not_found())
        if not self.book.end(conf, "all_left", now):
            return 409, {"data": conference_item(conf, self.links)}
        self._announce_end(conf)
        return 200, {"data": conference_item(conf, self.links)}

    def conferences_json(self) -> list[dict[str, Any]]:
        now = self.tick()
        t = self.clock.telnyx
        return [
            {
                **conference_item(conf, self.links),
                "address": conf.address,
                "ended_at": None if conf.ended_at is None else iso(t(conf.ended_at)),
                "recordings": [
                    {
                        "id": r.id,
                        "format": r.format,
                        "recording_started_at": iso(t(r.started_at)),
                        "saved": r.saved,
                        "listed": r.listed(now),
                    }
                    for r in conf.recordings
                ],
            }
            for conf in self.book.by_id.values()
        ]

    # -- record_start ---------------------------------------------------------

    async def record_start(self, request: Request) -> Response:
        """``POST /v2/conferences/{id}/actions/record_start``."""
        raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
        try:
            address = conference_id_from_path(raw_path.decode("latin-1"))
        except UnicodeDecodeError:
            address = None
        if address is None:
            raise HTTPException(404)
        body = await request.body()
        now = self.tick()
        authorized = bearer_ok(request.headers.get("Authorization"), self.cfg.api_key)
        reply, delay_s = decide(
            self.state, self.book, self.cfg, address, authorized=authorized, body=body, now=now
        )
        self._arm(now)
        rec = reply.started
        if rec is not None and rec.saved and not rec.conference.plan.no_saved_hook:
            plan = rec.conference.plan
            data = saved_event(rec, self.links, public_base(request.scope, self.options.public_url))
            self.hooks.schedule(
                data,
                rec.ended_at - now + plan.late_saved_ms / 1000.0,
                copies=2 if plan.dup_saved else 1,
                name=rec.conference.name,
            )
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        if reply.drop:
            return DropConnection()
        if reply.undecodable:
            headers = {
                **reply.headers,
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
            }
            return Response(b"this is not gzip", status_code=reply.status, headers=headers)
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def create_app(options: SimOptions | None = None) -> Starlette:
    """Build the simulator's ASGI app; every call gets fresh, independent state."""
    return Simulator(options).app
