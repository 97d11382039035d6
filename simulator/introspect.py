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
* ``POST /_sim/reset``: forgets everything, cancels pending webhooks
* ``GET  /_sim/health``
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from confrec.simulator import errors
from confrec.simulator.state import SimState
from confrec.simulator.webhooks import WebhookSender

__all__ = ["introspection_routes", "route_error"]


async def route_error(request: Request, exc: Exception) -> Response:
    """Unknown routes (404) and methods (405) as a Telnyx-shaped JSON body, not text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = {}
    if isinstance(exc, HTTPException) and exc.headers and "Allow" in exc.headers:
        allowed = {m.strip() for m in exc.headers["Allow"].split(",") if m.strip()}
        headers["Allow"] = ", ".join(sorted(allowed))
    body = errors.errors_body(errors.route_not_found())
    return JSONResponse(body, status_code=status, headers=headers)


def introspection_routes(sim: SimState, hooks: WebhookSender) -> list[BaseRoute]:
    """The ``/_sim/*`` routes, reading ``sim`` and ``hooks``."""

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
        sim.reset()
        hooks.reset()
        return JSONResponse({"ok": True})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return [
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/requests", requests, methods=["GET"]),
        Route("/_sim/webhooks", webhooks, methods=["GET"]),
        Route("/_sim/public-key", public_key, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/health", health, methods=["GET"]),
    ]
