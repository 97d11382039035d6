"""Reading request bodies with a size limit, as JSON of an expected shape.

The limit is checked against ``Content-Length`` before a byte is read and again while
streaming (a client may omit the header or lie), so an oversized body costs the service
at most ``limit`` bytes of memory before it answers 413.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from confrec.service.errors import bad_body, too_large


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(f"the body may be at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"the body may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_body(f"the body is not JSON: {exc}") from None


def parse_object(raw: bytes) -> dict[str, Any]:
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise bad_body("the body must be a JSON object")
    return value
