"""``/v1/batches``: the caller's batches, one batch's counts, and its jobs by list or label.

A batch is answered from its own counters (one HGETALL, ``BatchStore``), never by
scanning its jobs; its jobs come a page at a time from its lists (``tasks.batch_listing``).
A batch that is not the caller's is answered as an unknown one (404), so whether another
principal's batch exists does not leak; an operator token sees every batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from confrec.service import batch_schemas, schemas
from confrec.service.auth import authenticated
from confrec.service.errors import ApiError, error
from confrec.service.parts import ServiceParts
from confrec.tasks.batch_listing import BatchReader, JobQuery
from confrec.tasks.job import LABEL_KEY_PATTERN, MAX_LABEL_VALUE
from confrec.tasks.principal import Principal
from confrec.tasks.store.batches import BatchSummary
from confrec.tasks.store.keys import BATCH_LISTS

#: ``keys.BATCH_LISTS`` as the ``status`` parameter's rule (the OpenAPI document lists them).
_LIST_NAME = "^(" + "|".join(BATCH_LISTS) + ")$"
#: A cursor as the previous page gave it: ``<ms>:<batch id>`` (batches), ``<seq>`` (jobs).
_BATCHES_CURSOR = r"^[0-9]{1,16}:[A-Za-z0-9._:-]{1,128}$"
_JOBS_CURSOR = r"^[0-9]{1,12}$"
_LABEL = LABEL_KEY_PATTERN.removesuffix("$") + rf":[^\x00-\x1F\x7F-\x9F]{{0,{MAX_LABEL_VALUE}}}$"

_LIST_ERRORS = schemas.error_responses(
    {
        401: "No valid bearer token.",
        422: "A query parameter is invalid; source.pointer names it (/limit).",
        503: "Redis is unreachable.",
    }
)
_ONE_ERRORS = _LIST_ERRORS | schemas.error_responses({404: "No such batch, or not the caller's."})


Caller = Annotated[Principal, Depends(authenticated)]
_Route = Callable[[Callable[..., Any]], Callable[..., Any]]


def _cursor(pattern: str) -> Any:
    return Query(pattern=pattern, description="The previous page's cursor, as given.")


def batches_router(parts: ServiceParts) -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(parts.tokens)], tags=["batches"])
    reader = BatchReader(parts.batches, parts.ledger, parts.conferences)

    def get(path: str, summary: str, model: type, responses: dict[int | str, Any]) -> _Route:
        return router.get(path, summary=summary, response_model=model, responses=responses)

    @get("/batches", "The caller's batches, newest first", batch_schemas.Batches, _LIST_ERRORS)
    async def batches(
        caller: Caller,
        limit: Annotated[int, Query(ge=1, le=200, description="Batches per page.")] = 50,
        cursor: Annotated[str | None, _cursor(_BATCHES_CURSOR)] = None,
    ) -> JSONResponse:
        """An operator token's: every batch."""
        return JSONResponse(await run_in_threadpool(_batches, parts, caller, limit, cursor))

    @get("/batches/{batch_id}", "One batch's counts", batch_schemas.Batch, _ONE_ERRORS)
    async def batch(batch_id: str, caller: Caller) -> JSONResponse:
        """By state, outcome status and reason, and recording state."""
        return JSONResponse((await run_in_threadpool(_visible, parts, batch_id, caller)).as_dict())

    @get("/batches/{batch_id}/jobs", "A batch's jobs", batch_schemas.BatchJobs, _ONE_ERRORS)
    async def jobs(
        batch_id: str,
        caller: Caller,
        status: Annotated[
            str,
            Query(
                pattern=_LIST_NAME,
                description="Which of the batch's lists: by state, status, reason, "
                "`already_done`, or recording state.",
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
        cursor: Annotated[str | None, _cursor(_JOBS_CURSOR)] = None,
    ) -> JSONResponse:
        """In batch order, a page at a time; each job as ``GET /v1/jobs/{job_id}`` shows it."""
        query = JobQuery(status, None if label is None else _label(label), limit, cursor)

        def read() -> dict[str, Any]:
            _visible(parts, batch_id, caller)
            return reader.page(batch_id, query, viewer=caller).as_dict()

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
