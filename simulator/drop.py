"""Closing a connection without a byte of response (the ``drop-N-`` fault), under uvicorn.

ASGI has no message for "answer nothing, close the connection", and an app that raises
before answering gets a 500 from uvicorn.  So the server (:mod:`confrec.simulator.server`)
serves with :func:`protocol_class`: uvicorn's own HTTP protocol (httptools when installed,
else h11) with one addition, taken from asyncio's protocol API: each connection's app sees
``scope["extensions"][DROP_EXTENSION]``, a callable closing *that* connection's transport.

:class:`DropConnection`, a Starlette response, calls it and waits until uvicorn has seen
the connection go, so nothing is written and nothing logged: the client reads EOF where
a status line should be (httpx: ``RemoteProtocolError`` "Server disconnected without
sending a response").  Served by anything else (no such extension) it sends the status
line and headers of a response whose body never comes, and returns: the server closes the
connection (uvicorn logs "ASGI callable returned without completing response") and the
client still gets a transport error, never a response it could read.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DROP_EXTENSION", "DropConnection", "protocol_class"]

DROP_EXTENSION = "confrec.simulator.drop"
# uvicorn notices a closed transport on its next loop iteration; this only bounds a wait
# that would otherwise never end if it did not.
_DISCONNECT_WAIT_S = 5.0


def _with_drop(app: ASGIApp, transport: asyncio.BaseTransport) -> ASGIApp:
    async def app_with_drop(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["extensions"] = {
                **(scope.get("extensions") or {}),
                DROP_EXTENSION: transport.close,
            }
        await app(scope, receive, send)

    return app_with_drop


class _DropMixin(asyncio.Protocol):
    """Hands each connection's app a way to close that connection."""

    app: Any  # uvicorn's protocols call ``self.app`` for every request of the connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.app = _with_drop(self.app, transport)


class _H11Drop(_DropMixin, H11Protocol):
    pass


@functools.cache
def protocol_class() -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol (else h11), able to drop a connection."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return _H11Drop

    class _HttpToolsDrop(_DropMixin, HttpToolsProtocol):
        pass

    return _HttpToolsDrop


class DropConnection(Response):
    """A "response" that closes the connection without writing anything."""

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        drop = (scope.get("extensions") or {}).get(DROP_EXTENSION)
        if not callable(drop):
            headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            return
        drop()
        try:
            async with asyncio.timeout(_DISCONNECT_WAIT_S):
                while (await receive())["type"] != "http.disconnect":
                    pass
        except TimeoutError:
            return
