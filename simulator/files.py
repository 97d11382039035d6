"""Recording files behind presigned links that really expire, like Telnyx's S3 links.

``recording_urls`` and ``download_urls`` point at the simulator itself:
``{public}/_sim/files/{recording_id}.{fmt}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=
YYYYMMDDTHHMMSSZ&X-Amz-Expires=600&X-Amz-Signature=<hmac>``.  ``X-Amz-Date`` is Telnyx's
clock when the link was made; past ``X-Amz-Date + X-Amz-Expires`` on that clock, or with a
signature that is not ours, a GET answers 403 with an S3-style XML ``AccessDenied``
body.  A good link serves ``recording_bytes`` deterministic bytes (a WAV header, then
noise derived from the recording id) with ``Content-Length``, ``Accept-Ranges: bytes``
and single ``Range`` requests (206; 416 past the end).  ``public_recording_urls``
(``/_sim/files/public/...``) never expire.  A recording never saved has no file (404).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import struct
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from confrec.simulator.conferences import ConferenceBook
from confrec.simulator.times import SimClock, amz_date, iso, parse_amz_date

__all__ = ["Links", "audio_bytes", "file_routes", "public_base"]

FILES_PATH = "/_sim/files/"
_NAME = re.compile(r"([0-9a-f-]{36})\.(wav|mp3)")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg"}


def public_base(scope: Scope, configured: str | None) -> str:
    """Where clients reach the simulator: ``--public-url``, else the address it was reached at."""
    if configured:
        return configured.rstrip("/")
    host, port = scope.get("server") or ("127.0.0.1", 80)
    shown = f"[{host}]" if ":" in str(host) else host
    return f"http://{shown}:{port}"


class Links:
    """Makes and checks presigned links; the key is the simulator's own, fresh per start."""

    def __init__(self, clock: SimClock, expires_s: int = 600) -> None:
        if not 0 < expires_s <= 604800:
            raise ValueError("link expiry must be 1..604800 seconds (S3's bounds)")
        self.clock = clock
        self.expires_s = expires_s
        self._key = secrets.token_bytes(32)

    def _sign(self, name: str, date: str, expires: str) -> str:
        return hmac.new(self._key, f"{name}\n{date}\n{expires}".encode(), "sha256").hexdigest()

    def presign(self, base: str, recording_id: str, fmt: str, at: float) -> str:
        """A link to the file, made at ``at`` on Telnyx's clock."""
        name = f"{recording_id}.{fmt}"
        date, expires = amz_date(at), str(self.expires_s)
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Date": date,
            "X-Amz-Expires": expires,
            "X-Amz-Signature": self._sign(name, date, expires),
        }
        return f"{base}{FILES_PATH}{name}?{urlencode(query)}"

    def public(self, base: str, recording_id: str, fmt: str) -> str:
        return f"{base}{FILES_PATH}public/{recording_id}.{fmt}"

    def refusal(self, name: str, query: dict[str, str]) -> str | None:
        """Why a GET of ``name`` with ``query`` is refused, or None when the link is good."""
        date, expires = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
        signature = query.get("X-Amz-Signature", "")
        good = self._sign(name, date, expires)
        if not signature or not hmac.compare_digest(signature, good):
            return "The request signature we calculated does not match the signature you provided."
        made = parse_amz_date(date)
        if made is None or not expires.isdigit():
            return "Invalid date or expiry."
        if self.clock.telnyx_now() > made + int(expires):
            return "Request has expired"
        return None


@functools.lru_cache(maxsize=64)
def audio_bytes(recording_id: str, fmt: str, size: int) -> bytes:
    """``size`` bytes, the same for the same recording: a WAV (8 kHz mono 16-bit) or "mp3"."""
    noise = hashlib.shake_256(f"{recording_id}.{fmt}".encode()).digest(size)
    if fmt == "wav" and size >= 44:
        data = size - 44
        header = b"RIFF" + struct.pack("<I", size - 8) + b"WAVE"
        header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
        header += b"data" + struct.pack("<I", data)
        return header + noise[44:]
    if fmt == "mp3" and size >= 3:
        return b"ID3" + noise[3:]
    return noise


def _xml(status: int, code: str, message: str, extra: dict[str, str] | None = None) -> Response:
    fields = "".join(f"<{k}>{v}</{k}>" for k, v in (extra or {}).items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>{fields}"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


def _serve(request: Request, content: bytes, fmt: str) -> Response:
    size = len(content)
    headers = {"Accept-Ranges": "bytes", "Content-Type": _TYPES[fmt]}
    wanted = request.headers.get("range")
    match = _RANGE.fullmatch(wanted.strip()) if wanted else None
    if match is None or match.groups() == ("", ""):
        return Response(content, headers=headers)
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:
        start, end = max(0, size - int(last)), size - 1
    if start >= size or start > end:
        return Response(b"", 416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(content[start : end + 1], 206, headers=headers)


def file_routes(book: ConferenceBook, links: Links, size: int) -> list[BaseRoute]:
    """``GET /_sim/files/{id}.{fmt}`` (presigned) and ``GET /_sim/files/public/{id}.{fmt}``."""

    def found(name: str) -> tuple[str, str] | None:
        match = _NAME.fullmatch(name)
        if match is None:
            return None
        rec = book.recordings.get(match.group(1))
        if rec is None or not rec.saved or rec.format != match.group(2):
            return None
        return rec.id, rec.format

    def missing(name: str) -> Response:
        return _xml(404, "NoSuchKey", "The specified key does not exist.", {"Key": name})

    async def signed(request: Request) -> Response:
        name = request.path_params["name"]
        why = links.refusal(name, dict(request.query_params))
        if why is not None:
            now = {"ServerTime": iso(links.clock.telnyx_now())}
            return _xml(403, "AccessDenied", why, now)
        hit = found(name)
        return missing(name) if hit is None else _serve(request, audio_bytes(*hit, size), hit[1])

    async def public(request: Request) -> Response:
        name = request.path_params["name"]
        hit = found(name)
        return missing(name) if hit is None else _serve(request, audio_bytes(*hit, size), hit[1])

    return [
        Route(FILES_PATH + "public/{name}", public, methods=["GET"]),
        Route(FILES_PATH + "{name}", signed, methods=["GET"]),
    ]
