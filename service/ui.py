"""The web page of ``confrec serve``: a few static files of the package, at ``/`` and
``/ui/…``, with a Content Security Policy that lets them load nothing but themselves.

No framework and no build step: ``static/index.html``, ``static/app.js`` and
``static/app.css`` are what the browser gets. The page signs in with a token once
(``POST /v1/session``) and from then on uses the session cookie for ``/v1/*`` and the
event stream; no token is ever kept by the page, put in a URL or in storage
(docs/web-ui.md). Each file is read from the package once, at the first request.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

#: The page's files, by the name in its URL, with their media types; nothing else is served.
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
#: Scripts, styles, fetches and the event stream from this origin only; no inline script
#: or style, no plugin, no frame around it, no form posted anywhere (the sign-in form is
#: sent by the script: were it ever submitted by the browser, nothing would leave).
CSP = (
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _content(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _file(name: str) -> Response:
    return Response(_content(name), media_type=FILES[name], headers=HEADERS)


def ui_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def page() -> Response:
        return _file("index.html")

    @router.get("/ui/{name}")
    async def asset(name: str) -> Response:
        if name not in FILES:
            raise HTTPException(404, "No such file of the page.")
        return _file(name)

    return router
