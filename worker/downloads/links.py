"""Fresh links: a recording's download link asked of Telnyx each time one is needed.

A stored link (in a webhook or a job's status) is presigned for 10 minutes, so it is
never used: ``GET /v2/recordings/{id}`` gives one that works now. A 429 or a 5xx is
waited out (``Retry-After``, capped) and asked again, a few times, within the file's own
deadline; a 404 or a refused key is final. Errors say what happened, never the link
(its query string is a credential) or the key.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from confrec.tasks.telnyx_api import TelnyxApiError

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")


class DownloadError(Exception):
    """Why one recording was not saved: one line for the user, no link, no key."""


class RecordingReader(Protocol):
    """``TelnyxApi``'s one call that downloads need."""

    def get_recording(self, recording_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Link:
    format: str
    url: str


def describe(exc: BaseException) -> str:
    """An exception as a line: its type and text, any URL in it replaced by ``<link>``."""
    text = _URL.sub("<link>", str(exc)).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def pick(data: dict[str, Any], wanted: str | None) -> Link | None:
    """The link of the format the job recorded, else of the first format Telnyx has."""
    urls = data.get("download_urls")
    if not isinstance(urls, dict):
        return None
    usable = {str(k): v for k, v in urls.items() if isinstance(v, str) and v}
    if wanted in usable:
        return Link(wanted, usable[wanted])
    first = next(iter(sorted(usable)), None)
    return Link(first, usable[first]) if first is not None else None


class FreshLinks:
    """Asks ``api`` for a recording's link: bounded retries, bounded waits."""

    def __init__(
        self,
        api: RecordingReader,
        *,
        tries: int = 4,
        first_backoff_s: float = 0.5,
        max_wait_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api
        self._tries = tries
        self._first_backoff_s = first_backoff_s
        self._max_wait_s = max_wait_s
        self._sleep = sleep

    def get(self, recording_id: str, fmt: str | None, deadline: float) -> Link:
        """A link that works now, or ``DownloadError`` saying why there is none."""
        last, told = "", None
        for attempt in range(self._tries):
            if attempt:
                self._wait(attempt, told, deadline, last)
            told = None
            try:
                data = self._api.get_recording(recording_id)
            except TelnyxApiError as exc:
                if exc.status == 404:
                    raise DownloadError(f"Telnyx has no recording {recording_id} (404)") from None
                if exc.status != 429 and exc.status < 500:
                    raise DownloadError(f"Telnyx refused to give its link: {exc}") from None
                last, told = str(exc), exc.retry_after
                continue
            except httpx.HTTPError as exc:
                last = describe(exc)
                continue
            link = pick(data, fmt)
            if link is None:
                raise DownloadError(f"Telnyx gave no download link for recording {recording_id}")
            return link
        raise DownloadError(f"no link from Telnyx after {self._tries} tries: {last}")

    def _wait(self, attempt: int, told: float | None, deadline: float, last: str) -> None:
        wait = told if told is not None else self._first_backoff_s * 2 ** (attempt - 1)
        wait = min(wait, self._max_wait_s)
        if time.monotonic() + wait > deadline:
            raise DownloadError(f"out of time asking Telnyx for a link: {last}")
        self._sleep(wait)
