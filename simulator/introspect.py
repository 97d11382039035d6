"""``/_sim/*`` endpoints (not part of Telnyx) and the JSON answer for unknown routes.

Tests and benchmarks assert on what the simulator *saw* (attempt counts,
command_ids, timing, burst rate, webhooks delivered) rather than trusting the
worker's own logs.

* ``GET  /_sim/stats`` (``?conferences=0`` omits the per-conference map); its
  ``webhooks`` part counts ``sent`` (POSTs answered 2xx), ``attempts``, ``failed``
  (deliveries given up) and ``pending`` (scheduled or in retry)
* ``GET  /_sim/requests?conference_id=X``
* ``GET  /_sim/webhooks``: finished webhook deliveries, in the order they finished
* ``GET  /_sim/public-key``: ``{"public_key": "<base64>"}``, the key webhooks verify with
* ``GET  /_sim/conferences``: every Telnyx conference (all regions), with its address,
  times (Telnyx's clock) and recordings (``saved``, ``listed``)
* ``POST /_sim/conferences/{id-or-name}/end`` (``?region=`` picks among names): ends it now
  (reason ``all_left``) and sends ``conference.ended``; 404 unknown, 409 already ended
* ``GET  /_sim/calls``: the read calls served (``GET /v2/recordings`` ...): method, path,
  query, status, time
* ``POST /_sim/reset``: forgets everything (conferences too), cancels pending webhooks
* ``GET  /_sim/health``
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from confrec.simulator import errors
from confrec.simulator.state import SimState
from confrec.simulator.webhooks import WebhookSender

__all__ = ["Controls", "introspection_routes", "route_error"]


class Controls(Protocol):
    """What the ``/_sim/`` routes ask of the simulator beyond its state."""

    def reset(self) -> None: ...

    def end_conference(self, ref: str, region: str | None) -> tuple[int, dict[str, Any]]: ...

    def conferences_json(self) -> list[dict[str, Any]]: ...


async def route_error(request: Request, exc: Exception) -> Response:
    """Unknown routes (404) and methods (405) as a Telnyx-shaped JSON body, not text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = {}
    if isinstance(exc, HTTPException) and exc.headers and "Allow" in exc.headers:
        allowed = {m.strip() for m in exc.headers["Allow"].split(",") if m.strip()}
        headers["Allow"] = ", ".join(sorted(allowed))
    body = errors.errors_body(errors.route_not_found())
    return JSONResponse(body, status_code=status, headers=headers)


def introspection_routes(
    sim: SimState, hooks: WebhookSender, controls: Controls
) -> list[BaseRoute]:
    """The ``/_sim/*`` routes, reading ``sim`` and ``hooks``, acting through ``controls``."""

    async def stats(request: Request) -> Response:
        include = request.query_params.get("conferences", "1").lower() not in ("0", "false", "no")
        doc = sim.stats_json(include_conferences=include)
        doc["webhooks"] = hooks.stats_json()
        return JSONResponse(doc)

    async def requests(request: Request) -> Response:
        conference_id = request.query_params.get("conference_id")
        if conference_id is None:
            body = errors.errors_body(errors.missing_parameter("conference_id"))
            return JSONResponse(body, status_code=400)
        return JSONResponse(sim.requests_json(conference_id))

    async def webhooks(request: Request) -> Response:
        return JSONResponse(hooks.deliveries_json())

    async def public_key(request: Request) -> Response:
        return JSONResponse({"public_key": hooks.signer.public_key})

    async def reset(request: Request) -> Response:
        controls.reset()
        return JSONResponse({"ok": True})

    async def conferences(request: Request) -> Response:
        return JSONResponse(controls.conferences_json())

    async def end(request: Request) -> Response:
        status, doc = controls.end_conference(
            request.path_params["ref"], request.query_params.get("region")
        )
        return JSONResponse(doc, status_code=status)

    async def calls(request: Request) -> Response:
        return JSONResponse(sim.calls)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return [
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/requests", requests, methods=["GET"]),
        Route("/_sim/webhooks", webhooks, methods=["GET"]),
        Route("/_sim/public-key", public_key, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/conferences", conferences, methods=["GET"]),
        Route("/_sim/conferences/{ref:path}/end", end, methods=["POST"]),
        Route("/_sim/calls", calls, methods=["GET"]),
        Route("/_sim/health", health, methods=["GET"]),
    ]
