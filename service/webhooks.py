"""``POST /webhooks/telnyx``: Telnyx's webhooks, verified before anything else is read.

Telnyx times a webhook out after a few seconds and retries it, so the handler does the
least it can: verify the signature, store a ``conference.recording.saved`` or
``conference.ended`` once (by recording id, by conference), answer. A failure to store
answers 503, so Telnyx delivers the event again rather than it being lost. A verified
event whose payload lacks what it needs (a recording id, a conference id) is answered 200,
not stored, and counted (``result="invalid"``): Telnyx would only retry it, then fail over.
A fact newly stored has its conference's batch jobs' recording states counted after the
answer is sent (``tasks.recording_counts``); if that fails or serve dies first, the mark
the store left is counted by a worker's drain.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from confrec.service import schemas
from confrec.service.bodies import parse_object, read_body
from confrec.service.errors import ApiError, bad_body, error, unavailable
from confrec.service.parts import ServiceParts
from confrec.service.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError
from confrec.tasks.recording import from_webhook
from confrec.tasks.store.conferences import ENDED, SAVED

#: Telnyx's events are a few KiB; anything far larger is not one, and is refused (413,
#: counted as ``result="too_large"``) before more than this is read.
MAX_WEBHOOK_BYTES = 64 * 1024

log = logging.getLogger(__name__)


def webhooks_router(parts: ServiceParts) -> APIRouter:
    router = APIRouter(tags=["webhooks"])

    @router.post(
        "/webhooks/telnyx",
        summary="Telnyx's webhooks (Ed25519-signed)",
        responses={
            200: {"description": "Verified; a saved recording or an end stored once."},
            **schemas.error_responses(
                {
                    400: "Verified, but not an event.",
                    401: "Missing, bad or stale signature.",
                    408: "The body did not arrive in time.",
                    413: "The body is over 64 KiB.",
                    503: "No TELNYX_PUBLIC_KEY, or Redis down.",
                }
            ),
        },
    )
    async def telnyx_webhook(request: Request) -> JSONResponse:
        if parts.verifier is None:
            await run_in_threadpool(parts.conferences.note_unverifiable_webhook)
            raise unavailable("TELNYX_PUBLIC_KEY is not set: webhooks cannot be verified")
        try:
            raw = await read_body(request, MAX_WEBHOOK_BYTES)
        except ApiError as exc:
            if exc.status == 413:
                parts.metrics.webhooks.labels("unverified", "too_large").inc()
            raise
        try:
            parts.verifier.verify(
                request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER), raw
            )
        except SignatureError as exc:
            parts.metrics.webhooks.labels("unverified", "rejected").inc()
            raise ApiError(401, error("10009", "Authentication failed", str(exc))) from None
        data = _event(parse_object(raw))
        event_type = str(data["event_type"])
        if event_type not in (SAVED, ENDED):
            parts.metrics.webhooks.labels(event_type, "ignored").inc()
            return JSONResponse({"stored": False, "reason": f"{event_type} is not stored"})
        payload = data.get("payload")
        try:
            if not isinstance(payload, dict):
                raise ValueError("a Telnyx event has a payload object")
            if event_type == SAVED:
                stored = await run_in_threadpool(_store_saved, parts, data, payload)
                body: dict[str, Any] = {"stored": stored is not None}
                body["job_id"] = stored.job_id if stored else None
            else:
                body = {"stored": await run_in_threadpool(_store_ended, parts, data, payload)}
        except ValueError as exc:
            parts.metrics.webhooks.labels(event_type, "invalid").inc()
            return JSONResponse({"stored": False, "reason": f"payload: {exc}"})
        parts.metrics.webhooks.labels(event_type, "stored" if body["stored"] else "duplicate").inc()
        after = None
        if body["stored"] and parts.recording_counts is not None:
            after = BackgroundTask(_count, parts, str(payload["conference_id"]))
        return JSONResponse(body, background=after)

    return router


def _store_saved(parts: ServiceParts, data: dict[str, Any], payload: dict[str, Any]) -> Any:
    return parts.conferences.store_recording(from_webhook(payload), data)


def _store_ended(parts: ServiceParts, data: dict[str, Any], payload: dict[str, Any]) -> bool:
    conference_id = payload.get("conference_id")
    if not isinstance(conference_id, str) or not conference_id:
        raise ValueError("a conference.ended event needs conference_id")
    reason, occurred = payload.get("reason"), payload.get("occurred_at") or data.get("occurred_at")
    return parts.conferences.store_ended(
        conference_id,
        reason=reason if isinstance(reason, str) else None,
        source="webhook",
        occurred_at=occurred if isinstance(occurred, str) else None,
    )


def _count(parts: ServiceParts, conference_id: str) -> None:
    """The conference's batch jobs' recording states, counted after the answer went out."""
    assert parts.recording_counts is not None
    try:
        parts.recording_counts.refresh_conference(conference_id)
    except redis.RedisError as exc:  # the mark stays: a worker's drain counts it
        log.warning("recording counts of a conference: %s; left to the drain", type(exc).__name__)


def _event(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope.get("data")
    if not isinstance(data, dict) or not data.get("id") or not data.get("event_type"):
        raise bad_body("a Telnyx event has data.id and data.event_type")
    return data
