"""Reading request bodies with a size limit, as JSON of an expected shape.

The limit is checked against ``Content-Length`` before a byte is read and again while
streaming (a client may omit the header or lie), so an oversized body costs the service
at most ``limit`` bytes of memory before it answers 413. JSON is parsed by ``JsonStream``
(service/jsonstream.py): deep nesting, huge numbers and lone surrogates are a 400 with a
pointer, never a ``RecursionError`` or ``ValueError`` escaping as a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from confrec.service.errors import bad_body, too_large
from confrec.service.jsonstream import JsonStream


async def body_chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives, refused (413) once it is over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(f"the body may be at most {limit} bytes")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"the body may be at most {limit} bytes")
        yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    return b"".join([chunk async for chunk in body_chunks(request, limit)])


def parse_json(raw: bytes) -> Any:
    stream = JsonStream()
    stream.feed(raw)
    stream.close()
    return stream.value


def parse_object(raw: bytes) -> dict[str, Any]:
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise bad_body("the body must be a JSON object")
    return value
