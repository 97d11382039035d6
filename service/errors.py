"""Errors as Telnyx writes them: ``{"errors": [{"code", "title", "detail", "source"}]}``.

Clients of Telnyx already parse that shape, so every error of the service — auth,
validation, size, an unknown route, a broker that is down — uses it, with a JSON pointer
(RFC 6901) to the offending part of the request when there is one.
"""

from __future__ import annotations

from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

ErrorDict = dict[str, Any]

#: Telnyx's codes where it has one for the same problem; the rest follow its ranges.
_BY_PYDANTIC_TYPE = {
    "missing": ("10004", "Missing required parameter"),
    "literal_error": ("10032", "Invalid enumerated value"),
    "extra_forbidden": ("10015", "Unknown parameter"),
}


class ApiError(Exception):
    """Raised anywhere in a request; answered with ``status`` and these errors."""

    def __init__(
        self, status: int, *errors: ErrorDict, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(errors[0]["detail"] if errors else str(status))
        self.status = status
        self.errors = list(errors)
        self.headers = headers


def error(code: str, title: str, detail: str, pointer: str | None = None) -> ErrorDict:
    err: ErrorDict = {"code": code, "title": title, "detail": detail}
    if pointer is not None:
        err["source"] = {"pointer": pointer}
    return err


def pointer(*parts: str | int) -> str:
    """The JSON pointer to ``parts``: "/2/format"; "" is the whole document."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def validation_errors(exc: ValidationError, *prefix: str | int) -> list[ErrorDict]:
    """One error per problem pydantic found, each pointing at its field."""
    found = []
    for problem in exc.errors():
        code, title = _BY_PYDANTIC_TYPE.get(problem["type"], ("10002", "Invalid parameter"))
        loc = [*prefix, *problem["loc"]]
        where = pointer(*loc)
        found.append(error(code, title, f"{where or 'body'}: {problem['msg']}", where))
    return found


def unauthorized() -> ApiError:
    return ApiError(
        401,
        error("10009", "Authentication failed", "A valid bearer token is required."),
        headers={"WWW-Authenticate": "Bearer"},
    )


def bad_body(detail: str) -> ApiError:
    return ApiError(400, error("10015", "Bad request", detail, ""))


def too_large(detail: str) -> ApiError:
    return ApiError(413, error("10015", "Request too large", detail, ""))


def unavailable(detail: str) -> ApiError:
    return ApiError(503, error("10001", "Service unavailable", detail))


def body(*errors: ErrorDict) -> dict[str, Any]:
    return {"errors": list(errors)}


def install_handlers(app: FastAPI) -> None:
    """Every error leaves in Telnyx's shape, including the framework's own 404/405/422."""

    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse(body(*exc.errors), status_code=exc.status, headers=exc.headers)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        title = {404: "Resource not found", 405: "Method not allowed"}.get(
            exc.status_code, "Request failed"
        )
        detail = exc.detail if isinstance(exc.detail, str) else title
        return JSONResponse(
            body(error("10007" if exc.status_code == 404 else "10015", title, detail)),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def request_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            error("10002", "Invalid parameter", str(e["msg"]), pointer(*e["loc"][1:]))
            for e in exc.errors()
        ]
        return JSONResponse(body(*errors), status_code=422)

    async def redis_error(_: Request, exc: Exception) -> JSONResponse:
        # Only the type: a Redis error's text may carry the URL, password included.
        failed = unavailable(f"Redis did not answer ({type(exc).__name__})")
        return JSONResponse(body(*failed.errors), status_code=503)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(redis.RedisError, redis_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_error)
