"""``POST /webhooks/telnyx``: Telnyx's webhooks, verified before anything else is read.

Telnyx times a webhook out after a few seconds and retries it, so the handler does the
least it can: verify the signature, store a ``conference.recording.saved`` event once
(one Redis lookup and one atomic step), answer. A failure to store answers 503, so Telnyx
delivers the event again rather than it being lost.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from confrec.service import schemas
from confrec.service.bodies import parse_object, read_body
from confrec.service.errors import ApiError, bad_body, error, unavailable
from confrec.service.parts import ServiceParts
from confrec.service.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError
from confrec.tasks.store.recordings import SAVED

#: Telnyx's events are a few KiB; anything far larger is not one.
MAX_WEBHOOK_BYTES = 256 * 1024


def webhooks_router(parts: ServiceParts) -> APIRouter:
    router = APIRouter(tags=["webhooks"])

    @router.post(
        "/webhooks/telnyx",
        summary="Telnyx's webhooks (Ed25519-signed)",
        responses={
            200: {"description": "Verified; stored once per data.id if a saved recording."},
            400: {"model": schemas.Errors, "description": "Verified, but not an event."},
            401: {"model": schemas.Errors, "description": "Missing, bad or stale signature."},
            503: {"model": schemas.Errors, "description": "No TELNYX_PUBLIC_KEY, or Redis down."},
        },
    )
    async def telnyx_webhook(request: Request) -> JSONResponse:
        if parts.verifier is None:
            raise unavailable("TELNYX_PUBLIC_KEY is not set: webhooks cannot be verified")
        raw = await read_body(request, MAX_WEBHOOK_BYTES)
        try:
            parts.verifier.verify(
                request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER), raw
            )
        except SignatureError as exc:
            parts.metrics.webhooks.labels("unverified", "rejected").inc()
            raise ApiError(401, error("10009", "Authentication failed", str(exc))) from None
        data = _event(parse_object(raw))
        event_type = str(data["event_type"])
        if event_type != SAVED:
            parts.metrics.webhooks.labels(event_type, "ignored").inc()
            return JSONResponse({"stored": False, "reason": "not a recording.saved event"})
        stored = await run_in_threadpool(parts.recordings.store, data)
        parts.metrics.webhooks.labels(event_type, "stored" if stored else "duplicate").inc()
        return JSONResponse({"stored": stored is not None, "job_id": stored and stored.job_id})

    return router


def _event(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope.get("data")
    if not isinstance(data, dict) or not data.get("id") or not data.get("event_type"):
        raise bad_body("a Telnyx event has data.id and data.event_type")
    return data
