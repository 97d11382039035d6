"""``/v1/batches``: the caller's batches, one batch's counts, and its jobs by list or label.

A batch is answered from its own counters (one HGETALL, ``BatchStore``), never by
scanning its jobs; its jobs come a page at a time from its lists (``tasks.batch_listing``).
A batch that is not the caller's is answered as an unknown one (404), so whether another
principal's batch exists does not leak; an operator token sees every batch.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from confrec.service import batch_schemas, schemas
from confrec.service.auth import authenticated
from confrec.service.errors import ApiError, error
from confrec.service.parts import ServiceParts
from confrec.tasks.batch_listing import BatchReader
from confrec.tasks.job import LABEL_KEY_PATTERN, MAX_LABEL_VALUE
from confrec.tasks.principal import Principal
from confrec.tasks.store.batches import BatchSummary

#: ``keys.BATCH_LISTS``, spelled out so the OpenAPI document lists them.
ListName = Literal[
    "all",
    "queued",
    "running",
    "finished",
    "succeeded",
    "failed",
    "ok",
    "rejected",
    "retries_exhausted",
    "invalid",
    "already_done",
    "pending",
    "saved",
    "not_saved",
    "unknown",
    "ambiguous",
]
#: A cursor as the previous page gave it: ``<ms>:<batch id>`` (batches), ``<seq>`` (jobs).
_BATCHES_CURSOR = r"^[0-9]{1,16}:[A-Za-z0-9._:-]{1,128}$"
_JOBS_CURSOR = r"^[0-9]{1,12}$"
_LABEL = LABEL_KEY_PATTERN.removesuffix("$") + rf":[^\x00-\x1F\x7F-\x9F]{{0,{MAX_LABEL_VALUE}}}$"

_UNAUTHORIZED = {"model": schemas.Errors, "description": "No valid bearer token."}
_UNAVAILABLE = {"model": schemas.Errors, "description": "Redis is unreachable."}
_INVALID = {
    "model": schemas.Errors,
    "description": "A query parameter is invalid; source.pointer names it (/limit).",
}
_NOT_FOUND = {"model": schemas.Errors, "description": "No such batch, or not the caller's."}
_LIST_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _UNAUTHORIZED,
    422: _INVALID,
    503: _UNAVAILABLE,
}
_ONE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _UNAUTHORIZED,
    404: _NOT_FOUND,
    422: _INVALID,
    503: _UNAVAILABLE,
}


def batches_router(parts: ServiceParts) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(parts.tokens)], tags=["batches"])
    reader = BatchReader(parts.batches, parts.ledger, parts.conferences)

    @router.get(
        "/batches",
        summary="The caller's batches, newest first (an operator's: every batch)",
        response_model=batch_schemas.Batches,
        responses=_LIST_ERRORS,
    )
    async def batches(
        caller: Annotated[Principal, Depends(authenticated)],
        limit: Annotated[int, Query(ge=1, le=200, description="Batches per page.")] = 50,
        cursor: Annotated[
            str | None, Query(pattern=_BATCHES_CURSOR, description="The previous page's cursor.")
        ] = None,
    ) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(_batches, parts, caller, limit, cursor))

    @router.get(
        "/batches/{batch_id}",
        summary="One batch's counts: by state, outcome status and reason, recording state",
        response_model=batch_schemas.Batch,
        responses=_ONE_ERRORS,
    )
    async def batch(
        batch_id: str, caller: Annotated[Principal, Depends(authenticated)]
    ) -> JSONResponse:
        found = await run_in_threadpool(_visible, parts, batch_id, caller)
        return JSONResponse(found.as_dict())

    @router.get(
        "/batches/{batch_id}/jobs",
        summary="A batch's jobs in batch order, by list (status) and/or label, a page at a time",
        response_model=batch_schemas.BatchJobs,
        responses=_ONE_ERRORS,
    )
    async def jobs(
        batch_id: str,
        caller: Annotated[Principal, Depends(authenticated)],
        status: Annotated[
            ListName,
            Query(
                description="Which of the batch's lists: by state, status, reason, "
                "`already_done`, or recording state."
            ),
        ] = "all",
        label: Annotated[
            str | None,
            Query(
                pattern=_LABEL,
                description="`key:value`: only jobs with this label (the key ends at the "
                "first `:`). With a status too, a page may hold fewer than `limit` jobs "
                "while its cursor continues.",
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500, description="Jobs per page.")] = 100,
        cursor: Annotated[
            str | None, Query(pattern=_JOBS_CURSOR, description="The previous page's cursor.")
        ] = None,
    ) -> JSONResponse:
        wanted = None if label is None else _label(label)

        def read() -> dict[str, Any]:
            _visible(parts, batch_id, caller)
            page = reader.page(
                batch_id, status, label=wanted, limit=limit, cursor=cursor, viewer=caller
            )
            return page.as_dict()

        return JSONResponse(await run_in_threadpool(read))

    return router


def _batches(
    parts: ServiceParts, caller: Principal, limit: int, cursor: str | None
) -> dict[str, Any]:
    page = parts.batches.batches(
        None if caller.operator else caller.name, limit=limit, cursor=cursor
    )
    found = parts.batches.summaries(page.items)
    return {"batches": [one.as_dict() for one in found], "cursor": page.cursor}


def _label(text: str) -> tuple[str, str]:
    key, _, value = text.partition(":")
    return key, value


def _visible(parts: ServiceParts, batch_id: str, caller: Principal) -> BatchSummary:
    """The batch, if the caller may see it; the same 404 as an unknown batch's otherwise."""
    found = parts.batches.summary(batch_id)
    if found is None or not caller.sees(found.principal):
        raise ApiError(404, error("10007", "Resource not found", f"no batch {batch_id}"))
    return found
