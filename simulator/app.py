"""The Starlette application standing in for Telnyx ``record_start``.

One async handler serves ``POST /v2/conferences/{id}/actions/record_start``;
latency is an ``asyncio.sleep`` so hundreds of slow requests can be in flight
at once on one thread.  Per request, in this order:

1. arrival is counted (stats, per-second buckets, per-conference log);
2. bearer auth -> 401;
3. global fixed-window limit (``limit_rps``) -> 429;
4. fault script from the conference id (see :mod:`confrec.simulator.faults`)
   -> 503 / 429 / 408 / dropped connection;
5. body validation -> 422;
6. ``missing-`` -> 404, ``ended-`` -> 422 90019;
7. de-dupe by ``command_id`` and 200 ``{"data": {"result": "ok"}}``; a recording
   that started (not a repeat) schedules its saved webhook
   (:mod:`confrec.simulator.webhooks`, only with a webhook URL).

The answer is decided on arrival, then the reply waits ``latency_ms`` plus
any ``slow-MS-`` delay.  Introspection lives under ``/_sim/`` (see
:mod:`confrec.simulator.introspect`); serving is in :mod:`confrec.simulator.server`.  Bearer
tokens are never logged or echoed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from confrec.simulator import errors
from confrec.simulator.drop import DropConnection
from confrec.simulator.faults import Answer
from confrec.simulator.introspect import introspection_routes, route_error
from confrec.simulator.signing import Signer, parse_signing_key
from confrec.simulator.state import DROPPED_STATUS, SimState
from confrec.simulator.validation import parse_body, validate_body
from confrec.simulator.webhooks import SavedRecording, WebhookRetry, WebhookSender

__all__ = ["SimConfig", "Simulator", "conference_id_from_path", "create_app", "decide"]

ROUTE_PREFIX = "/v2/conferences/"
ROUTE_SUFFIX = "/actions/record_start"


@dataclass(frozen=True, slots=True)
class SimOptions:
    """Everything a simulator can be started with (the ``confrec simulate`` options)."""

    api_key: str | None = None
    """The bearer to accept; None accepts any non-empty one."""
    latency_ms: float = 0.0
    dedupe_window_s: float = 60.0
    limit_rps: float | None = None
    webhook_url: str | None = None
    """Where signed ``conference.recording.saved`` webhooks go; None sends none."""
    recording_seconds: float = 1.0
    signing_key: str | None = None
    """Base64 of a 32-byte Ed25519 seed; None: a fresh random key."""
    webhook_retry: WebhookRetry | None = None
    """A shorter webhook retry policy, for tests."""


@dataclass(frozen=True, slots=True)
class SimConfig:
    """The knobs each request reads."""

    api_key: str | None
    latency_ms: float


@dataclass(slots=True)
class Reply:
    """The decided answer to one request (``drop`` = close, send nothing)."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    undecodable: bool = False
    started: SavedRecording | None = None  # the recording this request started, if any


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


def _bearer_ok(header: str | None, api_key: str | None) -> bool:
    """Any non-empty bearer passes when ``api_key`` is None, else it must match."""
    if not header:
        return False
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    if api_key is None:
        return True
    return hmac.compare_digest(token.encode(), api_key.encode())


def _rate_headers(limit: int, remaining: int, reset_in_s: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(max(1, math.ceil(reset_in_s))),
    }


def _too_many(limit: int, reset_in_s: float) -> Reply:
    headers = {"Retry-After": "1", **_rate_headers(limit, 0, reset_in_s)}
    return Reply(429, errors.errors_body(errors.rate_limited()), headers)


def decide(
    sim: SimState, cfg: SimConfig, conference_id: str, *, authorized: bool, body: bytes, now: float
) -> tuple[Reply, float]:
    """Book-keep one request and decide its reply; returns ``(reply, delay_s)``.

    Synchronous on purpose: with no ``await`` inside, concurrent requests see
    consistent counters (fault attempts, rate windows, de-dupe).
    """
    parsed = parse_body(body)
    record = sim.arrive(conference_id, parsed.command_id, now)
    plan = sim.conference(conference_id).plan
    delay_s = (cfg.latency_ms + plan.slow_ms) / 1000.0
    reply = _decide(sim, conference_id, authorized, parsed.obj, parsed.error, now)
    sim.finish(record, DROPPED_STATUS if reply.drop else reply.status)
    return reply, delay_s


def _decide(
    sim: SimState,
    conference_id: str,
    authorized: bool,
    obj: dict[str, Any] | None,
    body_error: errors.ErrorDict | None,
    now: float,
) -> Reply:
    if not authorized:
        return Reply(401, errors.errors_body(errors.auth_failed()))

    allowed, remaining, reset_in = sim.take_global_slot(now)
    limit = sim.limit_per_window
    if not allowed and limit is not None:
        return _too_many(limit, reset_in)
    ok_headers = {} if limit is None else _rate_headers(limit, remaining, reset_in)

    answer = sim.conference(conference_id).plan.answer_for(sim.next_fault_attempt(conference_id))
    if answer is Answer.DROP:
        return Reply(DROPPED_STATUS, drop=True)
    if answer is Answer.FLAKY:
        return Reply(503, errors.errors_body(errors.service_unavailable()), {"Retry-After": "1"})
    if answer is Answer.RATELIMITED:
        return _too_many(limit or 1, reset_in)
    if answer is Answer.TIMEOUT408:
        return Reply(408, errors.errors_body(errors.request_timeout()))

    if obj is None:
        assert body_error is not None
        return Reply(422, errors.errors_body(body_error), ok_headers)
    problems = validate_body(obj)
    if problems:
        return Reply(422, errors.errors_body(*problems), ok_headers)

    if answer is Answer.MISSING:
        return Reply(404, errors.errors_body(errors.conference_not_found()), ok_headers)
    if answer is Answer.ENDED:
        return Reply(422, errors.errors_body(errors.conference_ended()), ok_headers)

    command_id = obj.get("command_id")
    started = None
    if sim.start_recording(conference_id, command_id if isinstance(command_id, str) else None, now):
        started = SavedRecording(conference_id, obj["format"], obj.get("channels", "single"), now)
    return Reply(
        200,
        {"data": {"result": "ok"}},
        ok_headers,
        undecodable=answer is Answer.UNDECODABLE,
        started=started,
    )


class Simulator:
    """One simulator: its knobs, state and webhooks, and the ASGI ``app`` serving them.

    Every instance has fresh, independent state.
    """

    def __init__(self, options: SimOptions | None = None) -> None:
        o = options or SimOptions()
        if o.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        self.cfg = SimConfig(api_key=o.api_key, latency_ms=o.latency_ms)
        self.state = SimState(dedupe_window_s=o.dedupe_window_s, limit_rps=o.limit_rps)
        seed = None if o.signing_key is None else parse_signing_key(o.signing_key)
        self.hooks = WebhookSender(
            o.webhook_url,
            Signer(seed),
            recording_seconds=o.recording_seconds,
            retry=o.webhook_retry,
        )
        routes = [
            Route(ROUTE_PREFIX + "{id:path}" + ROUTE_SUFFIX, self.record_start, methods=["POST"]),
            *introspection_routes(self.state, self.hooks),
        ]
        self.app = Starlette(
            routes=routes, exception_handlers={HTTPException: route_error}, lifespan=self._lifespan
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
            await self.hooks.aclose()

    async def record_start(self, request: Request) -> Response:
        """``POST /v2/conferences/{id}/actions/record_start``."""
        now = time.time()
        raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
        try:
            conference_id = conference_id_from_path(raw_path.decode("latin-1"))
        except UnicodeDecodeError:
            conference_id = None
        if conference_id is None:
            raise HTTPException(404)
        body = await request.body()
        authorized = _bearer_ok(request.headers.get("Authorization"), self.cfg.api_key)
        reply, delay_s = decide(
            self.state, self.cfg, conference_id, authorized=authorized, body=body, now=now
        )
        if reply.started is not None:
            plan = self.state.conference(conference_id).plan
            copies = 2 if plan.dup_saved else 1
            self.hooks.schedule(reply.started, late_ms=plan.late_saved_ms, copies=copies)
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
