"""Response models and request-body schemas, for the OpenAPI document only.

The handlers parse bodies themselves (all-or-nothing validation with JSON pointers, size
limits before parsing), so FastAPI is told the request schema rather than asked to
validate it; the responses are declared with these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter


class ErrorSource(BaseModel):
    pointer: str


class Error(BaseModel):
    code: str
    title: str
    detail: str
    source: ErrorSource | None = None


class Errors(BaseModel):
    errors: list[Error]


class Accepted(BaseModel):
    job_id: str
    command_id: str
    conference_id: str


class BulkAccepted(BaseModel):
    batch: str
    jobs: list[Accepted]
    """In input order."""


class JobStatus(BaseModel):
    job_id: str
    conference_id: str | None
    command_id: str | None
    state: Literal["queued", "running", "finished"]
    outcome: dict[str, Any] | None
    recording_state: Literal["pending", "saved", "not_saved", "unknown", "ambiguous"] | None
    """None when the job started no recording (docs/recordings.md)."""
    recording_reason: str | None
    recordings: list[dict[str, Any]]
    """The recordings this job started: the webhook payload's fields (``recording_id``
    first), ``source`` (webhook or reconciliation) and ``links_expire_at``."""
    other_recordings: list[dict[str, Any]]
    """Recordings on its conference not surely its own; ``match`` says why."""
    labels: dict[str, str] | None
    """Its producer's labels; None when it has none."""


def request_body(model: Any, description: str, **rules: Any) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body of this type; ``rules`` are JSON
    Schema keywords the handler enforces beyond the model's (``maxItems``), so that the
    document states every rule serve checks."""
    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    if defs:  # a list of jobs: inline the one definition it refers to
        (inner,) = defs.values()
        schema["items"] = inner
    content = {"application/json": {"schema": schema | rules}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses`` for the OpenAPI document: each status code answered with
    the ``Errors`` body, and what it means there."""
    return {code: {"model": Errors, "description": text} for code, text in descriptions.items()}
