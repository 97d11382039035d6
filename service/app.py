"""The ASGI app of ``confrec serve``: its routes, error shape, health and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from confrec.service.batch_retry import batch_retry_router
from confrec.service.batches import batches_router
from confrec.service.deadline import BodyDeadline
from confrec.service.errors import install_handlers
from confrec.service.events import events_router
from confrec.service.health import Health
from confrec.service.jobs import jobs_router
from confrec.service.metrics import RequestMetrics
from confrec.service.parts import ServiceParts
from confrec.service.requestlog import RequestLog
from confrec.service.sessions import sessions_router
from confrec.service.ui import ui_router
from confrec.service.webhooks import webhooks_router

__all__ = ["ServiceParts", "create_service"]


#: /metrics in the OpenAPI document: Prometheus text, not JSON.
_PROMETHEUS_TEXT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}}
}


def create_service(
    parts: ServiceParts, *, body_timeout_s: float = 30.0, healthz_timeout_s: float = 2.0
) -> FastAPI:
    """The app; a request's body must arrive within ``body_timeout_s`` (else 408), and
    each ``/healthz`` probe answers within ``healthz_timeout_s``."""
    app = FastAPI(
        title="confrec",
        summary="Start Telnyx conference recordings at scale: enqueue, follow, get webhooks.",
        version="1",
        docs_url=None,  # the UI loads scripts from a CDN; /openapi.json is the document
        redoc_url=None,
        openapi_url=None,  # served below as a route of ours, so /metrics labels it
    )
    install_handlers(app)
    app.include_router(jobs_router(parts))
    app.include_router(webhooks_router(parts))
    app.include_router(batches_router(parts))
    app.include_router(batch_retry_router(parts))
    app.include_router(sessions_router(parts))
    app.include_router(events_router(parts))
    app.include_router(ui_router())  # the web page: / and /ui/… (docs/web-ui.md)

    app.add_middleware(BodyDeadline, timeout_s=body_timeout_s)
    app.add_middleware(RequestMetrics, metrics=parts.metrics)
    app.add_middleware(RequestLog)
    health = Health(parts.checks, healthz_timeout_s)

    @app.get("/healthz", tags=["operations"], summary="200 when the broker and Redis answer")
    async def healthz() -> JSONResponse:
        results = await health.results()
        healthy = all(result == "ok" for result in results.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", "checks": results},
            status_code=200 if healthy else 503,
        )

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus text format",
        response_class=Response,
        responses=_PROMETHEUS_TEXT,
    )
    async def metrics() -> Response:
        # On a thread: a scrape reads Redis (confrec_batches_in_flight).
        text = await run_in_threadpool(generate_latest, parts.metrics.registry)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return app
