"""``/_sim/*`` endpoints (not part of Telnyx) and JSON error middleware.

Tests and benchmarks assert on what the simulator *saw* (attempt counts,
command_ids, timing, burst rate) rather than trusting the worker's own logs.

* ``GET  /_sim/stats`` (``?conferences=0`` omits the per-conference map)
* ``GET  /_sim/requests?conference_id=X``
* ``POST /_sim/reset``
* ``GET  /_sim/health``
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from confrec.simulator import errors
from confrec.simulator.state import SimState

__all__ = ["add_introspection_routes", "json_errors_middleware"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Answer unknown routes/methods with a Telnyx-shaped JSON body, not text."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return web.json_response(errors.errors_body(errors.route_not_found()), status=404)
    except web.HTTPMethodNotAllowed as exc:
        return web.json_response(
            errors.errors_body(errors.route_not_found()),
            status=405,
            headers={"Allow": ", ".join(sorted(exc.allowed_methods))},
        )


def add_introspection_routes(app: web.Application, state_key: web.AppKey[SimState]) -> None:
    """Register the ``/_sim/*`` routes reading ``app[state_key]``."""

    async def stats(request: web.Request) -> web.Response:
        include = request.query.get("conferences", "1").lower() not in ("0", "false", "no")
        return web.json_response(request.app[state_key].stats_json(include_conferences=include))

    async def requests(request: web.Request) -> web.Response:
        conference_id = request.query.get("conference_id")
        if conference_id is None:
            body = errors.errors_body(errors.missing_parameter("conference_id"))
            return web.json_response(body, status=400)
        return web.json_response(request.app[state_key].requests_json(conference_id))

    async def reset(request: web.Request) -> web.Response:
        request.app[state_key].reset()
        return web.json_response({"ok": True})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_get("/_sim/stats", stats)
    app.router.add_get("/_sim/requests", requests)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_get("/_sim/health", health)
