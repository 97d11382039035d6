"""TelnyxApi: the reads besides record_start — recordings and conferences.

The reconciler and ``confrec recordings download`` ask Telnyx what it has: a
conference's recordings (the list holds only completed ones), one recording with fresh
links, a conference's status, the conferences of a name. Same pooled client, auth and
timeouts as ``TelnyxClient`` (``telnyx.http_client``), and each call bounded in total by
``attempt_deadline``, so a slow server never holds a reconciler past its lease. The key
sits only in the client's headers: errors carry the status, never the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from confrec.tasks.policy import parse_retry_after, telnyx_errors
from confrec.tasks.telnyx import attempt_deadline, http_client, path_segment


class TelnyxApiError(Exception):
    """A non-2xx answer; ``retry_after`` (seconds) when a 429 or 503 said how long."""

    def __init__(
        self,
        status: int,
        retry_after: float | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.errors = errors or []
        code = next((str(e.get("code")) for e in self.errors if e.get("code")), "")
        super().__init__(f"Telnyx answered {status}" + (f" (code {code})" if code else ""))


@dataclass(frozen=True)
class Page:
    """One page of a list: its items and how many pages the list has (meta.total_pages)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    total_pages: int = 1


class TelnyxApi:
    """Telnyx's list and read endpoints for recordings and conferences (sync)."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._timeout = timeout
        self._http = http_client(
            base_url,
            api_key,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_connections=4,
            transport=transport,
        )

    def list_recordings(
        self,
        conference_id: str,
        *,
        region: str | None,
        created_gte: str | None,
        created_lte: str | None,
        page: int,
        size: int = 250,
    ) -> Page:
        """One page of the conference's completed recordings (``GET /recordings``)."""
        params = {
            "filter[conference_id]": conference_id,
            "filter[conference_region]": region,
            "filter[created_at][gte]": created_gte,
            "filter[created_at][lte]": created_lte,
            "page[number]": str(page),
            "page[size]": str(size),
        }
        return _page(self._get("/recordings", params))

    def get_recording(self, recording_id: str) -> dict[str, Any]:
        """One recording, with fresh ``download_urls`` (``GET /recordings/{id}``)."""
        body = self._get(f"/recordings/{path_segment(recording_id)}", {})
        return _data(body)

    def get_conference(self, conference_id: str, *, region: str | None) -> dict[str, Any] | None:
        """The conference (``status``, ``expires_at``, ``end_reason``, …); None when
        Telnyx knows no conference of that id (404)."""
        try:
            body = self._get(f"/conferences/{path_segment(conference_id)}", {"region": region})
        except TelnyxApiError as exc:
            if exc.status == 404:
                return None
            raise
        return _data(body)

    def list_conferences(
        self, name: str, *, region: str | None, status: str | None, page: int, size: int = 250
    ) -> Page:
        """One page of the conferences named ``name`` (``GET /conferences``; names are
        not unique over time)."""
        params = {
            "filter[name]": name,
            "filter[status]": status,
            "region": region,
            "page[number]": str(page),
            "page[size]": str(size),
        }
        return _page(self._get("/conferences", params))

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: dict[str, str | None]) -> dict[str, Any]:
        """GET within the timeout, in total; raises ``TelnyxApiError`` on non-2xx, and
        ``httpx.HTTPError`` when no answer came."""
        query = {k: v for k, v in params.items() if v is not None}
        with attempt_deadline(self._timeout):
            response = self._http.get(path, params=query)
            response.read()
        if not response.is_success:
            retry_after = parse_retry_after(response.headers)
            raise TelnyxApiError(response.status_code, retry_after, telnyx_errors(response))
        try:
            body = response.json()
        except ValueError as exc:
            raise TelnyxApiError(response.status_code) from exc
        if not isinstance(body, dict):
            raise TelnyxApiError(response.status_code)
        return body


def _data(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    return data if isinstance(data, dict) else {}


def _page(body: dict[str, Any]) -> Page:
    data = body.get("data")
    items = [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
    meta = body.get("meta")
    total = meta.get("total_pages") if isinstance(meta, dict) else None
    return Page(items, total if isinstance(total, int) and total >= 0 else 1)
