"""``GET /v1/events``: outcomes and recording states as Server-Sent Events, live.

Each event's ``id:`` is where the reader stands in both streams (``tasks/events.py``); a
client that reconnects with it (``Last-Event-ID``, which ``EventSource`` sends by itself,
or ``?last_event_id=``) resumes right after it, and is told with a ``gap`` event when
trimming took entries it had not read. Without one the stream starts at the newest entry.
A caller sees its own jobs' events (an operator every job's), optionally one batch's.

Bounded: at most ``events_max_clients`` streams at once (one more: 503, ``Retry-After``),
each reading on a thread of a pool of that size (XREAD BLOCK for at most 5 s at a time,
so a stream whose client left returns its thread within that), never on the request
threads the other routes share. An idle stream gets ``: hb`` every ``events_heartbeat_s``,
and at each one its caller's token or session is checked again: a revoked token ends it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from confrec.service import schemas
from confrec.service.auth import authenticated
from confrec.service.errors import ApiError, error, unavailable
from confrec.service.parts import ServiceParts
from confrec.tasks.events import (
    MAX_POSITION_CHARS,
    RESULTS,
    Position,
    outcome_data,
    recording_data,
    visible,
)
from confrec.tasks.principal import Principal
from confrec.tasks.store.event_feed import EventFeed, FeedEntry

#: The longest one XREAD waits: how long a thread outlives a client that left.
MAX_BLOCK_S = 5.0
#: What a client waits before reconnecting (the stream's ``retry:``), ms.
RECONNECT_MS = 3000
_ID_RULE = "'<results entry id>,<recording entry id>' as an event's id: was sent"
_STREAM_DOC = (
    "Server-Sent Events. `event: outcome` (data: the outcome JSON and `seq`, the job's place "
    "in its batch), `event: recording` (data: job_id, batch, conference_id, state, reason, "
    "labels), `event: gap` (data: stream, missed_from, oldest: entries trimmed before they "
    "were read), `event: ready` once at the start (data: position); `: hb` comments when "
    "idle. Every event's `id:` resumes the stream (`Last-Event-ID`). Authenticated by the "
    "bearer token or the session cookie of `POST /v1/session`."
)
_ID_PATTERN = r"^[0-9]{1,20}-[0-9]{1,20},[0-9]{1,20}-[0-9]{1,20}$"
#: Read from the request itself: a FastAPI ``str | None`` header is "string or null" in
#: the document, and a header cannot be null.
_LAST_EVENT_ID = {
    "name": "Last-Event-ID",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},  # not one of ours: the stream starts now, with a gap
    "description": "Resume after this (EventSource sends it on reconnecting); wins over "
    "?last_event_id. An id that is none of ours starts the stream now, its first event "
    "a `gap`.",
}
#: One event of the stream (a comment is none): its data is one line of JSON.
_EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"enum": ["ready", "outcome", "recording", "gap"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "id": {"type": "string", "pattern": _ID_PATTERN},
        "retry": {"type": "integer"},
    },
    "required": ["event", "data", "id"],
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {"schema": _EVENT_SCHEMA}},
        "description": _STREAM_DOC,
    },
    **schemas.error_responses(
        {
            401: "No valid bearer token or session.",
            404: "No such batch, or not the caller's.",
            422: "A ?last_event_id or batch that cannot be one (an unknown Last-Event-ID "
            "header starts the stream now, with a gap event).",
            503: "As many event streams as serve holds are open (Retry-After), or Redis "
            "is unreachable.",
        }
    ),
}


class _EventResponse(StreamingResponse):
    """A stream that gives its slot back however it ends, even before its first byte."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None]) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def events_router(parts: ServiceParts) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(parts.tokens)], tags=["events"])
    pool = ThreadPoolExecutor(parts.events_max_clients, thread_name_prefix="confrec-events")
    open_streams = [0]
    block_ms = int(min(parts.events_heartbeat_s, MAX_BLOCK_S) * 1000)

    def release() -> None:
        open_streams[0] -= 1
        parts.metrics.event_clients.dec()

    @router.get(
        "/events",
        summary="Outcomes and recording states, live (Server-Sent Events), resumable",
        response_class=StreamingResponse,
        responses=_RESPONSES,
        openapi_extra={"parameters": [_LAST_EVENT_ID]},
    )
    async def events(
        request: Request,
        caller: Annotated[Principal, Depends(authenticated)],
        batch: Annotated[
            str | None,
            Query(
                pattern=r"^[A-Za-z0-9._:-]{1,128}$",
                description="Only this batch's jobs (404 when it is not the caller's).",
            ),
        ] = None,
        last_event_id: Annotated[
            str | None,
            Query(pattern=_ID_PATTERN, description=f"Resume after this; {_ID_RULE}."),
        ] = None,
    ) -> StreamingResponse:
        feed = _feed(parts)
        resume, unreadable = _position(request.headers.get("last-event-id") or last_event_id)
        if batch is not None:
            found = await run_in_threadpool(parts.batches.summary, batch)
            if found is None or not caller.sees(found.principal):
                raise ApiError(404, error("10007", "Resource not found", "No such batch."))
        if open_streams[0] >= parts.events_max_clients:
            raise ApiError(
                503,
                *unavailable(f"at most {parts.events_max_clients} event streams at once").errors,
                headers={"Retry-After": "5"},
            )
        open_streams[0] += 1
        parts.metrics.event_clients.inc()
        try:
            start = resume if resume is not None else await run_in_threadpool(feed.now)
            gaps = await run_in_threadpool(feed.gaps, resume) if resume else []
        except BaseException:
            release()
            raise

        def keep(fields: dict[str, str]) -> bool:
            return visible(fields, caller, batch)

        def still_allowed() -> bool:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token:
                return parts.tokens.principal(token) == caller
            return parts.tokens.from_session(request) == caller

        async def stream() -> AsyncIterator[str]:
            loop = asyncio.get_running_loop()
            position = start
            yield f"retry: {RECONNECT_MS}\n"
            yield _frame("ready", position, {"position": position.event_id})
            for gap in gaps:
                yield _frame("gap", position, gap.as_dict())
            if unreadable is not None:  # resumed from now: what came before is unknown
                yield _frame("gap", position, {"stream": "all", "missed_from": unreadable})
            quiet_since = checked_at = loop.time()
            sent = position
            while True:
                reading = partial(feed.read, position, keep, block_ms=block_ms)
                read = await loop.run_in_executor(pool, reading)
                for entry in read.entries:
                    frame = _event(entry)
                    if frame is not None:
                        yield frame
                        quiet_since, sent = loop.time(), entry.position
                position = read.position
                if loop.time() - checked_at >= parts.events_heartbeat_s:
                    if not await loop.run_in_executor(pool, still_allowed):
                        return  # the token was removed, or the session ended
                    checked_at = loop.time()
                if loop.time() - quiet_since >= parts.events_heartbeat_s:
                    moved = f"id: {position.event_id}\n" if position != sent else ""
                    yield f": hb\n{moved}\n"
                    quiet_since, sent = loop.time(), position

        return _EventResponse(stream(), release)

    return router


def _feed(parts: ServiceParts) -> EventFeed:
    if parts.events is None:
        raise unavailable("the event stream is not configured")
    return parts.events


def _position(text: str | None) -> tuple[Position | None, str | None]:
    """Where to resume, and the Last-Event-ID if it is none of ours. A browser resends
    whatever id it last saw (a proxy's, an older release's): refusing it would end its
    EventSource for good, so such a stream starts now with a ``gap`` event instead (the
    query parameter is checked by its pattern: 422)."""
    if not text:
        return None, None
    try:
        return Position.parse(text), None
    except ValueError:
        return None, json.dumps(text[:MAX_POSITION_CHARS])[1:-1]


def _event(entry: FeedEntry) -> str | None:
    if entry.stream == RESULTS:
        data = outcome_data(entry.fields, entry.seq)
        return None if data is None else _frame("outcome", entry.position, data)
    return _frame("recording", entry.position, recording_data(entry.fields, entry.labels))


def _frame(event: str, position: Position, data: dict[str, Any]) -> str:
    """One event; its data on one line (JSON escapes every newline and non-ASCII)."""
    return f"id: {position.event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n"
