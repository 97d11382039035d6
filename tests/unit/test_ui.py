"""The web page's files as serve hands them out: only the page's own files, each with the
policy that keeps the browser from loading anything else, and nothing in them that
would need another host, an inline script or an inline style."""

from __future__ import annotations

import asyncio
import re
from importlib import resources

import httpx
from fastapi import FastAPI

from confrec.service.errors import install_handlers
from confrec.service.ui import CSP, FILES, ui_router


def get(*paths: str) -> list[httpx.Response]:
    """The app's answers to ``GET path``, in order, through ASGI (no server)."""
    app = FastAPI()
    install_handlers(app)
    app.include_router(ui_router())

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ui") as http:
            return [await http.get(path) for path in paths]

    return asyncio.run(run())


def static(name: str) -> str:
    return resources.files("confrec.service").joinpath("static", name).read_text()


def test_the_page_and_its_files_are_served_with_the_policy() -> None:
    page, *files = get("/", *(f"/ui/{name}" for name in FILES))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text == static("index.html")
    for answer, media_type in zip(files, FILES.values(), strict=True):
        assert answer.status_code == 200 and answer.headers["content-type"] == media_type
    for answer in (page, *files):
        assert answer.headers["content-security-policy"] == CSP
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in CSP and "frame-ancestors 'none'" in CSP


def test_nothing_else_is_served_from_the_package() -> None:
    paths = ("/ui/ui.py", "/ui/..%2Fui.py", "/ui/static", "/ui/", "/ui/app.js.map")
    for path, answer in zip(paths, get(*paths), strict=True):
        assert answer.status_code == 404, path
        assert answer.json()["errors"][0]["code"] == "10007"


def test_the_page_loads_only_its_own_files_and_has_nothing_inline() -> None:
    html = static("index.html")
    loaded = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert loaded and all(url.startswith(("/ui/", "#")) for url in loaded), loaded
    assert {url.removeprefix("/ui/") for url in loaded if url.startswith("/ui/")} <= set(FILES)
    assert "<style" not in html and " style=" not in html
    assert all(" src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    for name in ("index.html", "app.js", "app.css"):
        text = static(name)
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), name
        assert "innerHTML" not in text and "eval(" not in text, name
