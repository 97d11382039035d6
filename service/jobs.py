"""``/v1/jobs``: enqueue one job or a bulk, and read a job's status.

All-or-nothing: a request is parsed and every job validated before the first one is
enqueued, so any error (400, 413, 422) leaves nothing in the queue. Enqueueing goes
through the same ``Producer`` and ledger as the CLI, so the nothing-lost guarantee and
``confrec status`` cover jobs from here exactly as they cover ``confrec bulk``.
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from confrec.service import requestlog, schemas
from confrec.service.auth import authenticated
from confrec.service.bodies import body_chunks, parse_object, read_body
from confrec.service.bulk import MAX_BULK_BYTES, MAX_BULK_JOBS, read_bulk
from confrec.service.errors import (
    ApiError,
    error,
    unavailable,
    validation_errors,
)
from confrec.service.jsonstream import MAX_DEPTH, MAX_ITEM_VALUES
from confrec.service.parts import ServiceParts
from confrec.tasks.job import RecordStartJob
from confrec.tasks.principal import Principal
from confrec.tasks.publishing.producer import Enqueued, EnqueueError
from confrec.tasks.status import job_status

#: Room for a job with every field at its longest, every character \u-escaped (~3.5 KiB).
MAX_JOB_BYTES = 16 * 1024
_JSON_RULES = (
    f"JSON nested at most {MAX_DEPTH} deep, numbers within a 64-bit integer or a double, "
    "no escaped lone surrogate (400 with a pointer)"
)

_ERRORS = schemas.error_responses(
    {
        400: "The body is not JSON of the expected shape.",
        401: "No valid bearer token.",
        413: "The body is too large.",
        422: "A job is invalid; source.pointer names its field.",
        429: "The caller's enqueue rate (CONFREC_API_RATE_LIMIT) is spent; Retry-After says "
        "when the jobs would be accepted.",
        503: "The broker or Redis is unreachable; the detail says how many jobs of a bulk "
        "went out before it (re-send with the same batch_key).",
    }
)
_STATUS_ERRORS = schemas.error_responses(
    {
        401: "No valid bearer token.",
        404: "No such job, or not the caller's.",
        503: "Redis is unreachable.",
    }
)


def jobs_router(parts: ServiceParts) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(parts.tokens)], tags=["jobs"])

    @router.post(
        "/jobs",
        status_code=202,
        summary="Enqueue one record-start job",
        response_model=schemas.Accepted,
        responses=_ERRORS,
        openapi_extra=schemas.request_body(
            RecordStartJob, f"One job; at most {MAX_JOB_BYTES} bytes (413), {_JSON_RULES}."
        ),
    )
    async def enqueue(
        request: Request, caller: Annotated[Principal, Depends(authenticated)]
    ) -> JSONResponse:
        fields = parse_object(await read_body(request, MAX_JOB_BYTES))
        try:
            job = RecordStartJob.model_validate(fields)
        except ValidationError as exc:
            raise ApiError(422, *validation_errors(exc)) from None
        sent = await run_in_threadpool(_enqueue, parts, caller, [job], None, None)
        requestlog.note(request, jobs=len(sent))
        return JSONResponse(_accepted(sent[0]), status_code=202)

    @router.post(
        "/jobs/bulk",
        status_code=202,
        summary="Enqueue up to 10,000 jobs, all or none",
        response_model=schemas.BulkAccepted,
        responses=_ERRORS,
        openapi_extra=schemas.request_body(
            list[RecordStartJob],
            f"1 to {MAX_BULK_JOBS} jobs, all valid or none enqueued; at most {MAX_BULK_BYTES} "
            f"bytes, and the {MAX_BULK_JOBS + 1}st job, refused (413) as they arrive; a job "
            f"holds at most {MAX_ITEM_VALUES} keys and values (413); {_JSON_RULES}.",
            minItems=1,
            maxItems=MAX_BULK_JOBS,
        ),
    )
    async def enqueue_bulk(
        request: Request,
        caller: Annotated[Principal, Depends(authenticated)],
        batch_key: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=256,
                description="Derive missing command_ids from this key and the job, as "
                "`confrec bulk --batch-key`: re-sending the same bulk starts no second "
                "recording. A named token's keys are its own (its name is part of the "
                "derivation); an unnamed token's derive as the CLI's.",
            ),
        ] = None,
    ) -> JSONResponse:
        jobs = await read_bulk(body_chunks(request, MAX_BULK_BYTES))
        batch = str(uuid.uuid4())
        sent = await run_in_threadpool(_enqueue, parts, caller, jobs, batch, batch_key)
        requestlog.note(request, jobs=len(sent))
        return JSONResponse(
            {"batch": batch, "jobs": [_accepted(one) for one in sent]}, status_code=202
        )

    @router.get(
        "/jobs/{job_id}",
        summary="A job's state, outcome and saved recordings",
        response_model=schemas.JobStatus,
        responses=_STATUS_ERRORS,
    )
    async def status(
        job_id: str, caller: Annotated[Principal, Depends(authenticated)]
    ) -> JSONResponse:
        found = await run_in_threadpool(_status, parts, job_id, caller)
        if found is None:
            raise ApiError(404, error("10007", "Resource not found", f"no job {job_id}"))
        return JSONResponse(found)

    return router


def _enqueue(
    parts: ServiceParts,
    caller: Principal,
    jobs: list[RecordStartJob],
    batch: str | None,
    batch_key: str | None,
) -> list[Enqueued]:
    _admit(parts, caller, len(jobs))
    try:
        sent = parts.producer.enqueue_many(jobs, batch=batch, batch_key=batch_key, principal=caller)
    except EnqueueError as exc:
        parts.metrics.jobs_enqueued.inc(exc.enqueued)
        detail = f"the broker failed after {exc.enqueued} of {len(jobs)} jobs were enqueued"
        if batch is not None:
            detail += "; re-send with the same batch_key to enqueue the rest safely"
        raise unavailable(detail) from None
    parts.metrics.jobs_enqueued.inc(len(sent))
    return sent


def _admit(parts: ServiceParts, caller: Principal, jobs: int) -> None:
    """429 with Retry-After while the caller's enqueue rate is spent; nothing enqueued."""
    wait_s = parts.rate_limit.wait_s(caller.name, jobs) if parts.rate_limit else 0.0
    if wait_s > 0:
        detail = f"{jobs} jobs exceed this token's enqueue rate; retry in {wait_s:.1f} s"
        retry_after = {"Retry-After": str(max(1, math.ceil(wait_s)))}
        raise ApiError(429, error("10011", "Too many requests", detail), headers=retry_after)


def _status(parts: ServiceParts, job_id: str, caller: Principal) -> dict[str, Any] | None:
    """The job's status, if the caller may see it: the same None (404) as an unknown
    job's otherwise, so whether another principal's job exists does not leak."""
    found = job_status(parts.ledger, parts.conferences, job_id, caller)
    return None if found is None else found.as_dict()


def _accepted(sent: Enqueued) -> dict[str, str]:
    return {
        "job_id": sent.job_id,
        "command_id": sent.command_id,
        "conference_id": sent.conference_id,
    }
