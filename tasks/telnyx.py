"""TelnyxClient: the transport. Builds the record_start request and sends it.

One pooled ``httpx.Client`` per worker process: connections are reused across jobs, and
the API key sits only in that client's default headers, never in what we log or raise.

Every attempt also has a total wall-clock bound, which httpx's per-phase timeouts are
not: httpx bounds each connect, socket read and write, so a server that answers one byte
at a time could keep an attempt going for ever. The visibility-timeout check in
``confrec.config.settings`` relies on an attempt lasting at most ``CONFREC_HTTP_TIMEOUT``;
``DeadlineTransport`` makes that true by cutting every socket operation to what is left
of the attempt's deadline (set per thread with ``attempt_deadline``) and failing with
httpx's own timeout errors once it has passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpcore
import httpx
from pydantic import SecretStr

from confrec.tasks import metrics
from confrec.tasks.job import RecordStartJob

_local = threading.local()


@contextmanager
def attempt_deadline(seconds: float) -> Iterator[None]:
    """Every socket operation in this block, on this thread, ends within ``seconds``."""
    _local.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.deadline = None


def _bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    deadline: float | None = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the attempt's total time limit passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(
            self._backend.connect_tcp(host, port, bounded, local_address, socket_options)
        )

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's HTTP/1.1 transport on a network backend that honours ``attempt_deadline``."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )


def path_segment(value: str) -> str:
    """``value`` as exactly ONE path segment: ``safe=""`` makes ``/``, ``#``, ``?``,
    spaces and non-ASCII survive as %XX escapes; ``.`` and ``..`` are escaped too, or URL
    resolution would drop or climb the segment."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def record_start_path(conference_id: str) -> str:
    """The endpoint path, the conference id (or name) as one segment."""
    return f"/conferences/{path_segment(conference_id)}/actions/record_start"


def http_client(
    base_url: str,
    api_key: SecretStr,
    *,
    timeout: float,
    connect_timeout: float,
    max_connections: int = 100,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """A pooled client for Telnyx's API: every caller (record_start, the reconciler's
    reads) gets the same auth and timeouts, and the key only in its default headers."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        headers={
            "Authorization": f"Bearer {api_key.get_secret_value()}",
            "Accept": "application/json",
        },
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        transport=transport or DeadlineTransport(limits),
    )


class TelnyxClient:
    """Sends record_start commands; classification of the answer is the policy's job.

    Each request goes straight to the pooled transport: httpx's ``Client`` layers (URL
    merging, the cookie jar, auth and redirect flows, event hooks) cost about a tenth of
    a worker's CPU per job (issue 23's profile) and do nothing for one POST to a fixed
    endpoint with a bearer key that never follows a redirect."""

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
        self._timeout = timeout
        self._base_url = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key.get_secret_value()}",
            "Accept": "application/json",
        }
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._transport = transport or DeadlineTransport(limits)
        self._timeouts = httpx.Timeout(timeout, connect=connect_timeout).as_dict()

    def record_start(self, job: RecordStartJob, command_id: str) -> httpx.Response:
        """POST one record_start, all of it within the client's timeout; raises
        ``httpx.HTTPError`` when no usable answer came."""
        request = httpx.Request(
            "POST",
            self._base_url + record_start_path(job.conference_id),
            headers=self._headers,
            json=job.request_body() | {"command_id": command_id},
            extensions={"timeout": self._timeouts},
        )
        started = time.perf_counter()
        try:
            with attempt_deadline(self._timeout):
                response = self._transport.handle_request(request)
                try:
                    response.read()
                finally:
                    response.close()
        except httpx.HTTPError:
            metrics.telnyx_answered(None, time.perf_counter() - started)
            raise
        response.request = request
        metrics.telnyx_answered(response.status_code, time.perf_counter() - started)
        return response

    def close(self) -> None:
        self._transport.close()
