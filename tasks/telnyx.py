"""TelnyxClient: the transport. Builds the record_start request and sends it.

One pooled ``httpx.Client`` per worker process: connections are reused across jobs, and
the API key sits only in that client's default headers, never in what we log or raise.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
from pydantic import SecretStr

from confrec.tasks.deadline import DeadlineTransport, attempt_deadline
from confrec.tasks.job import RecordStartJob


def record_start_path(conference_id: str) -> str:
    """The endpoint path with the conference id encoded as exactly ONE path segment.

    ``safe=""`` makes ``/``, ``#``, ``?``, spaces and non-ASCII survive as %XX escapes;
    ``.`` and ``..`` are escaped too, or URL resolution would drop or climb the segment.
    """
    segment = quote(conference_id, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return f"/conferences/{segment}/actions/record_start"


class TelnyxClient:
    """Sends record_start commands; classification of the answer is the policy's job."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        max_connections: int = 100,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {api_key.get_secret_value()}",
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport or DeadlineTransport(limits),
        )

    def record_start(self, job: RecordStartJob, command_id: str) -> httpx.Response:
        """POST one record_start, all of it within the client's timeout; raises
        ``httpx.HTTPError`` when no usable answer came."""
        body = job.request_body() | {"command_id": command_id}
        with attempt_deadline(self._timeout):
            return self._http.post(record_start_path(job.conference_id), json=body)

    def close(self) -> None:
        self._http.close()
