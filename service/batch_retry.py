"""``POST /v1/batches/{id}/retry``: send a batch's failed jobs again, those that certainly
started nothing (``tasks.retry_rules``), as a new batch; list the others with the reason.

The caller must own the batch (an operator owns every one): any other answers 404, as an
unknown batch does. The jobs it would send count against the caller's enqueue rate.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from confrec.service import requestlog, schemas
from confrec.service.auth import authenticated
from confrec.service.errors import ApiError, error, unavailable
from confrec.service.jobs import _admit as admit  # the one rule of the caller's rate
from confrec.service.parts import ServiceParts
from confrec.tasks.batch_retry import RetryReport
from confrec.tasks.principal import Principal
from confrec.tasks.publishing.producer import EnqueueError


class Retried(BaseModel):
    job_id: str = Field(description="The failed job.")
    new_job_id: str = Field(description="The new job sending it again (its `retry_of`).")


class UncertainJob(BaseModel):
    job_id: str
    reason: str = Field(
        description="Why it is not sent again: `attempt_uncertain` (an attempt may have "
        "reached Telnyx: 500/502/504, a timeout or a cut after the request went out, a "
        "delivery that died mid-attempt), `not_retries_exhausted` (rejected or invalid), "
        "`recording_seen`, `conference_ended`, `already_retried`, `job_unknown`."
    )


class RetryAccepted(BaseModel):
    batch: str
    retry_batch: str | None = Field(description="The new batch; null when nothing was sent.")
    retried: list[Retried]
    uncertain: list[UncertainJob]


_ERRORS = schemas.error_responses(
    {
        401: "No valid bearer token.",
        404: "No such batch, or not the caller's.",
        429: "The jobs to send exceed the caller's enqueue rate; Retry-After says when.",
        503: "The broker or Redis is unreachable.",
    }
)


def batch_retry_router(parts: ServiceParts) -> APIRouter:
    async def retry(
        request: Request,
        batch_id: Annotated[str, Path(min_length=1, max_length=128)],
        caller: Annotated[Principal, Depends(authenticated)],
    ) -> JSONResponse:
        report = await run_in_threadpool(_retry, parts, batch_id, caller)
        requestlog.note(request, jobs=len(report.retried))
        return JSONResponse(report.as_dict(), status_code=202)

    router = APIRouter(prefix="/v1", dependencies=[Depends(parts.tokens)], tags=["batches"])
    router.add_api_route(
        "/batches/{batch_id}/retry",
        retry,
        methods=["POST"],
        status_code=202,
        summary="Send a batch's failed jobs again, those that certainly started nothing",
        response_model=RetryAccepted,
        responses=_ERRORS,
    )
    return router


def _retry(parts: ServiceParts, batch_id: str, caller: Principal) -> RetryReport:
    if parts.retries is None:
        raise unavailable("retrying batches is not configured")
    summary = parts.batches.summary(batch_id)  # whose it is, before any job is read
    plan = parts.retries.plan(batch_id) if summary and caller.sees(summary.principal) else None
    if plan is None:
        raise ApiError(404, error("10007", "Resource not found", f"no batch {batch_id}"))
    if plan.sendable:
        admit(parts, caller, len(plan.sendable))
    try:
        return parts.retries.enqueue(plan)
    except EnqueueError as exc:
        raise unavailable(
            f"the broker failed after {exc.enqueued} of {len(plan.sendable)} jobs were sent "
            "again; retry the batch again to send the rest"
        ) from None
