"""Telnyx-shaped error bodies (``{"errors": [...]}``) used by the simulator.

Codes, titles and details follow ``tasks/record_start.openapi.yaml`` where the
spec gives them, so the worker's error handling is exercised against the same
payloads it will see in production.  Codes the spec does not list (503, 408,
wrong JSON types) are the simulator's own, chosen to keep the same shape.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ErrorDict",
    "auth_failed",
    "bad_request_body",
    "conference_ended",
    "conference_not_found",
    "errors_body",
    "invalid_enum",
    "invalid_type",
    "missing_parameter",
    "out_of_range",
    "rate_limited",
    "request_timeout",
    "resource_not_found",
    "route_not_found",
    "service_unavailable",
]

ErrorDict = dict[str, Any]


def errors_body(*errors: ErrorDict) -> dict[str, Any]:
    """Wrap error objects in the ``call-control_Errors`` envelope."""
    return {"errors": list(errors)}


def _error(code: str, title: str, detail: str, pointer: str | None = None) -> ErrorDict:
    err: ErrorDict = {"code": code, "title": title, "detail": detail}
    if pointer is not None:
        err["source"] = {"pointer": pointer}
    return err


def auth_failed() -> ErrorDict:
    """401 body, verbatim from the spec's UnauthorizedResponse example."""
    err = _error(
        "10009",
        "Authentication failed",
        "The required authentication headers were either invalid or not included in the request.",
    )
    err["meta"] = {"url": "https://developers.telnyx.com/docs/overview/errors/10009"}
    return err


def conference_not_found() -> ErrorDict:
    return _error("90058", "Invalid conference_id", "The conference does not exist.")


def conference_ended() -> ErrorDict:
    return _error(
        "90019",
        "Conference has already ended",
        "This conference is no longer active and can't receive commands.",
    )


def resource_not_found() -> ErrorDict:
    """A 404 for an id the API does not know (a recording, a conference)."""
    return _error(
        "10005", "Resource not found", "The requested resource or URL could not be found."
    )


def route_not_found() -> ErrorDict:
    return _error("10007", "Resource not found", "Resource not found")


def missing_parameter(name: str) -> ErrorDict:
    return _error(
        "10004",
        "Missing required parameter",
        f"The '{name}' parameter is required and cannot be blank.",
        f"/{name}",
    )


def invalid_enum(name: str, allowed: tuple[str, ...]) -> ErrorDict:
    return _error(
        "10032",
        "Invalid enumerated value",
        f"The value must be one of: {', '.join(sorted(allowed))}.",
        f"/{name}",
    )


def out_of_range(name: str, low: int, high: int) -> ErrorDict:
    return _error(
        "10033",
        "Value outside of range",
        f"The value is outside of allowed range {low} to {high}",
        f"/{name}",
    )


def invalid_type(name: str, expected: str) -> ErrorDict:
    # Not in the spec; same shape as 10032/10033 so clients can treat it alike.
    return _error(
        "10002",
        "Invalid parameter type",
        f"The '{name}' parameter must be a {expected}.",
        f"/{name}",
    )


def bad_request_body(detail: str) -> ErrorDict:
    # Pointer "" is the RFC 6901 pointer to the whole document.
    return _error("10002", "Invalid request body", detail, "")


def service_unavailable() -> ErrorDict:
    return _error(
        "10001",
        "Service unavailable",
        "The service is temporarily unavailable. Please retry later.",
    )


def rate_limited() -> ErrorDict:
    return _error(
        "10011",
        "Too many requests",
        "You have exceeded the rate limit. Retry after the time given in Retry-After.",
    )


def request_timeout() -> ErrorDict:
    return _error("10010", "Request timeout", "The request took too long to process.")
