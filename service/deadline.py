"""A deadline for a request's body, however a handler reads it.

granian bounds how long a request's head may take, not its body: a client that sends a
``Content-Length`` and then dribbles the bytes, or stops one short, would hold its
connection and a task for as long as it likes. This middleware bounds every read of the
body (``read_body``, a streaming parser alike): past ``timeout_s`` from the request's
start the read raises 408, answered with ``Connection: close``. Once the body is whole,
``receive`` is the server's own again (it then only reports a disconnect, which may
rightly take as long as a response does).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from confrec.service.errors import ApiError, error


def body_timeout(timeout_s: float) -> ApiError:
    detail = f"the body did not arrive within {timeout_s:g} s"
    return ApiError(
        408, error("10015", "Request timeout", detail, ""), headers={"Connection": "close"}
    )


class BodyDeadline:
    """ASGI middleware: the body of each request arrives within ``timeout_s`` or 408."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        whole = False

        async def receive_by_deadline() -> Message:
            nonlocal whole
            if whole:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise body_timeout(self.timeout_s) from None
            whole = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, receive_by_deadline, send)
