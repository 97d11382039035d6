"""``/v1/session``: a browser signs in with a token and gets a session cookie.

``POST /v1/session`` takes the token as ``Authorization: Bearer`` or as a JSON body
``{"token": …}`` (``Content-Type: application/json``, which a form of another site cannot
send) and answers 204 with ``Set-Cookie: confrec_session=…; HttpOnly; SameSite=Strict;
Path=/`` (``Secure`` when the request came over https, or a proxy says so with
``X-Forwarded-Proto: https``). The cookie then works wherever a token does; what it may
change needs the CSRF header too (``service/auth.py``). ``DELETE /v1/session`` ends it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from confrec.service import requestlog, schemas
from confrec.service.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    bearer_scheme,
    csrf_refused,
)
from confrec.service.bodies import parse_object, read_body
from confrec.service.errors import ApiError, error, unauthorized, unavailable
from confrec.service.parts import ServiceParts
from confrec.tasks.store.sessions import SessionStore, digest

#: A token is a line of the tokens; a body holding one is small.
MAX_SESSION_BODY_BYTES = 4096


_ERRORS = schemas.error_responses(
    {
        400: "The body is not a JSON object.",
        401: "No valid token.",
        403: "A session cookie was sent without the CSRF header.",
        413: "The body is too large.",
        415: "A body that is not application/json.",
        422: "A body without a token (a non-empty string), or with another field.",
        503: "Redis is unreachable.",
    }
)
_BODY = {
    "requestBody": {
        "required": False,
        "description": "The token, when no Authorization header carries it.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"token": {"type": "string", "minLength": 1}},
                    "required": ["token"],
                    "additionalProperties": False,
                }
            }
        },
    }
}


def sessions_router(parts: ServiceParts) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["session"])

    @router.post(
        "/session",
        status_code=204,
        summary="Sign in: a session cookie for the token (browsers' EventSource)",
        response_class=Response,
        responses={**_ERRORS, 204: {"description": "Signed in; Set-Cookie: confrec_session"}},
        openapi_extra=_BODY,
    )
    async def sign_in(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> Response:
        sessions = _sessions(parts)
        given = await _body_token(request)  # a body is checked even beside a header
        token = credentials.credentials if credentials else given
        caller = parts.tokens.principal(token) if token else None
        if caller is None or token is None:
            raise unauthorized()
        requestlog.note(request, principal=caller.name)
        session_id = await run_in_threadpool(sessions.open, caller.name, digest(token))
        answer = Response(status_code=204)
        answer.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=sessions.ttl_s,
            path="/",
            httponly=True,
            samesite="strict",
            secure=_https(request),
        )
        return answer

    @router.delete(
        "/session",
        status_code=204,
        summary="Sign out: the session ends, the cookie is cleared",
        response_class=Response,
        responses={403: _ERRORS[403], 503: _ERRORS[503], 204: {"description": "Signed out"}},
    )
    async def sign_out(request: Request) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            if request.headers.get(CSRF_HEADER) != "1":
                raise csrf_refused()
            await run_in_threadpool(_sessions(parts).close, session_id)
        answer = Response(status_code=204)
        answer.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_https(request)
        )
        return answer

    @router.api_route(
        "/session",
        methods=["GET", "HEAD", "PUT", "PATCH", "OPTIONS"],
        include_in_schema=False,
    )
    async def other_methods() -> Response:
        """405 naming both methods (two routes share the path: Starlette would name one)."""
        raise ApiError(
            405,
            error("10015", "Method not allowed", "Method Not Allowed"),
            headers={"Allow": "POST, DELETE"},
        )

    return router


def _sessions(parts: ServiceParts) -> SessionStore:
    if parts.sessions is None:
        raise unavailable("sessions are not configured")
    return parts.sessions


async def _body_token(request: Request) -> str | None:
    raw = await read_body(request, MAX_SESSION_BODY_BYTES)
    if not raw:
        return None
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(
            415, error("10015", "Unsupported media type", "the body must be application/json")
        )
    body = parse_object(raw)
    unknown = sorted(set(body) - {"token"})
    if unknown:
        pointer = "/" + unknown[0].replace("~", "~0").replace("/", "~1")
        detail = f'{pointer}: unknown field (the body is {{"token": …}})'
        raise ApiError(422, error("10002", "Invalid parameter", detail, pointer))
    token = body.get("token")
    if not isinstance(token, str) or not token:
        detail = "/token: a token (a non-empty string) is required"
        raise ApiError(422, error("10002", "Invalid parameter", detail, "/token"))
    return token


def _https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"
