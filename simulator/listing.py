"""Telnyx's read calls, served as Telnyx's SDK makes them (deepObject query parameters).

* ``GET /v2/recordings``: ``filter[conference_id]``, ``filter[conference_region]`` (absent:
  ``US``), ``filter[created_at][gte|lte]``, ``filter[call_session_id]``, ``page[number]``,
  ``page[size]`` (default 20, at most 250); only recordings saved (and past
  ``listlate-MS-``), newest first, each with fresh presigned ``download_urls``.
* ``GET /v2/recordings/{id}``: ``{"data": item}``, 404 (Telnyx's error body) when unknown.
* ``GET /v2/conferences``: ``filter[name]``, ``filter[status]``, ``region`` (absent: ``US``),
  paging; by ``expires_at`` descending, as Telnyx documents.
* ``GET /v2/conferences/{id}``: ``region`` (absent: ``US``); 404 when unknown there.

Pages answer ``{"data": [...], "meta": {page_number, page_size, total_pages,
total_results}}``.  Every call needs the bearer (401) and counts against ``limit_rps``
(429) like ``record_start``; each is logged for ``GET /_sim/calls``.  Times are on
Telnyx's clock.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from confrec.simulator import errors
from confrec.simulator.auth import bearer_ok, rate_headers
from confrec.simulator.conferences import DEFAULT_REGION, Conference, ConferenceBook, SimRecording
from confrec.simulator.decide import too_many
from confrec.simulator.files import Links, public_base
from confrec.simulator.state import SimState
from confrec.simulator.times import iso, parse_iso
from confrec.simulator.validation import ENUMS

__all__ = ["Api", "conference_item", "listing_routes", "recording_item"]

STATUSES = ("init", "in_progress", "completed")
MAX_PAGE_SIZE = 250


@dataclass(frozen=True, slots=True)
class Api:
    """What the read calls need of the simulator; ``tick`` ends what is due, returns now."""

    sim: SimState
    book: ConferenceBook
    links: Links
    api_key: str | None
    public_url: str | None
    tick: Callable[[], float]


class Refused(Exception):
    """A 4xx answer, raised from deep in a handler."""

    def __init__(self, status: int, *errs: errors.ErrorDict) -> None:
        super().__init__(status)
        self.status = status
        self.errs = errs


def recording_item(rec: SimRecording, links: Links, base: str) -> dict[str, Any]:
    """A ``GET /v2/recordings`` item (``recording_response_data.py``), links made now."""
    clock = links.clock
    created = iso(clock.telnyx(rec.ended_at))
    return {
        "id": rec.id,
        "record_type": "recording",
        "conference_id": rec.conference.id,
        "call_control_id": rec.call_control_id,
        "call_leg_id": rec.call_leg_id,
        "call_session_id": rec.call_session_id,
        "connection_id": "1111111111111111111",
        "channels": rec.channels,
        "download_urls": {rec.format: links.presign(base, rec.id, rec.format, clock.telnyx_now())},
        "duration_millis": round((rec.ended_at - rec.started_at) * 1000),
        "initiated_by": "StartConferenceRecordingAPI",
        "source": "conference",
        "status": "completed",
        "recording_started_at": iso(clock.telnyx(rec.started_at)),
        "recording_ended_at": created,
        "created_at": created,
        "updated_at": created,
    }


def conference_item(conf: Conference, links: Links) -> dict[str, Any]:
    """A conference as ``conference.py`` types it."""
    t = links.clock.telnyx
    return {
        "id": conf.id,
        "record_type": "conference",
        "name": conf.name,
        "region": conf.region,
        "status": conf.status,
        "created_at": iso(t(conf.created_at)),
        "updated_at": iso(t(conf.updated_at)),
        "expires_at": iso(t(conf.expires_at)),
        "end_reason": conf.end_reason,
        "connection_id": "1111111111111111111",
    }


def _page(request: Request, items: list[Any]) -> tuple[list[Any], dict[str, int]]:
    q = request.query_params
    numbers = {}
    for name, default, high in (("page[number]", 1, 10**9), ("page[size]", 20, MAX_PAGE_SIZE)):
        text = q.get(name, str(default))
        if not text.isdigit():
            raise Refused(422, errors.invalid_type(name, "positive integer"))
        if not 1 <= int(text) <= high:
            raise Refused(422, errors.out_of_range(name, 1, high))
        numbers[name] = int(text)
    number, size = numbers["page[number]"], numbers["page[size]"]
    meta = {
        "page_number": number,
        "page_size": size,
        "total_pages": math.ceil(len(items) / size),
        "total_results": len(items),
    }
    return items[(number - 1) * size : number * size], meta


def _region(request: Request, name: str) -> str:
    region = request.query_params.get(name, DEFAULT_REGION)
    if region not in ENUMS["region"]:
        raise Refused(422, errors.invalid_enum(name, ENUMS["region"]))
    return region


def _time_filter(request: Request, name: str) -> float | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    t = parse_iso(text)
    if t is None:
        raise Refused(422, errors.invalid_type(name, "ISO 8601 date-time"))
    return t


def listing_routes(api: Api) -> list[BaseRoute]:
    """The four read routes, each behind the bearer and the rate limit."""
    book, links = api.book, api.links

    def served(
        handler: Callable[[Request, float], dict[str, Any]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            now = api.tick()
            response = _answer(request, handler, now)
            query = request.url.query
            api.sim.log_call(request.method, request.url.path, query, response.status_code, now)
            return response

        return endpoint

    def _answer(
        request: Request, handler: Callable[[Request, float], dict[str, Any]], now: float
    ) -> Response:
        if not bearer_ok(request.headers.get("Authorization"), api.api_key):
            return JSONResponse(errors.errors_body(errors.auth_failed()), status_code=401)
        allowed, remaining, reset_in = api.sim.take_global_slot(now)
        limit = api.sim.limit_per_window
        if not allowed and limit is not None:
            reply = too_many(limit, reset_in)
            return JSONResponse(reply.body, status_code=429, headers=reply.headers)
        headers = {} if limit is None else rate_headers(limit, remaining, reset_in)
        try:
            return JSONResponse(handler(request, now), headers=headers)
        except Refused as exc:
            return JSONResponse(errors.errors_body(*exc.errs), exc.status, headers=headers)

    def list_recordings(request: Request, now: float) -> dict[str, Any]:
        q = request.query_params
        region = _region(request, "filter[conference_region]")
        gte = _time_filter(request, "filter[created_at][gte]")
        lte = _time_filter(request, "filter[created_at][lte]")
        conference_id, session = q.get("filter[conference_id]"), q.get("filter[call_session_id]")
        found = [
            r
            for r in book.listed(region, now)
            if (conference_id is None or r.conference.id == conference_id)
            and (session is None or r.call_session_id == session)
            and (gte is None or links.clock.telnyx(r.ended_at) >= gte)
            and (lte is None or links.clock.telnyx(r.ended_at) <= lte)
        ]
        page, meta = _page(request, found)
        base = public_base(request.scope, api.public_url)
        return {"data": [recording_item(r, links, base) for r in page], "meta": meta}

    def get_recording(request: Request, now: float) -> dict[str, Any]:
        rec = book.recordings.get(request.path_params["id"])
        if rec is None or not rec.listed(now):
            raise Refused(404, errors.resource_not_found())
        return {"data": recording_item(rec, links, public_base(request.scope, api.public_url))}

    def list_conferences(request: Request, now: float) -> dict[str, Any]:
        q = request.query_params
        region = _region(request, "region")
        name, status = q.get("filter[name]"), q.get("filter[status]")
        if status is not None and status not in STATUSES:
            raise Refused(422, errors.invalid_enum("filter[status]", STATUSES))
        found = [
            c
            for c in book.conferences(region)
            if (name is None or c.name == name) and (status is None or c.status == status)
        ]
        page, meta = _page(request, found)
        return {"data": [conference_item(c, links) for c in page], "meta": meta}

    def get_conference(request: Request, now: float) -> dict[str, Any]:
        region = _region(request, "region")
        conf = book.by_id.get(request.path_params["id"].lower())
        if conf is None or conf.region != region:
            raise Refused(404, errors.resource_not_found())
        return {"data": conference_item(conf, links)}

    return [
        Route("/v2/recordings", served(list_recordings), methods=["GET"]),
        Route("/v2/recordings/{id}", served(get_recording), methods=["GET"]),
        Route("/v2/conferences", served(list_conferences), methods=["GET"]),
        Route("/v2/conferences/{id}", served(get_conference), methods=["GET"]),
    ]
