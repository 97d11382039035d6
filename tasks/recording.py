"""Recording: one saved recording, whichever way Telnyx told us of it.

The ``conference.recording.saved`` webhook and ``GET /v2/recordings`` describe the same
recording with different names (``recording_id`` vs ``id``, ``recording_urls`` vs
``download_urls``). Everything downstream — matching, status, downloads — reads this one
shape, with ``recording_id`` at the top as in the webhook's payload (PRODUCT.md), plus
where it came from and when its links stop working: Telnyx presigns them for minutes, and
a retried webhook may arrive with links already dead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict

Source = Literal["webhook", "reconciliation"]
#: How long Telnyx's presigned recording links live (its samples: ``X-Amz-Expires=600``).
PRESIGNED_FOR_S = 600


class Recording(BaseModel):
    model_config = ConfigDict(frozen=True)

    recording_id: str
    conference_id: str
    format: str | None = None
    channels: str | None = None
    recording_started_at: str | None = None
    recording_ended_at: str | None = None
    recording_urls: dict[str, str] = {}
    public_recording_urls: dict[str, str] = {}
    call_session_id: str | None = None
    call_control_id: str | None = None
    connection_id: str | None = None
    client_state: str | None = None
    duration_millis: int | None = None
    source: Source
    links_expire_at: str | None = None
    """The earliest expiry of ``recording_urls`` (None: the links do not say)."""

    @property
    def started_ts(self) -> float | None:
        """``recording_started_at`` as Unix seconds (Telnyx's clock)."""
        return _timestamp(self.recording_started_at)

    def as_status(self, now: datetime | None = None) -> dict[str, Any]:
        """What a job's status shows: dead links are left out, so nobody is handed one
        (``confrec recordings download`` asks Telnyx for fresh ones)."""
        shown = self.model_dump(exclude_none=True)
        expires = _datetime(self.links_expire_at)
        if expires is not None and expires <= (now or datetime.now(UTC)):
            shown["recording_urls"] = {}
            shown["links_expired"] = True
        return shown


def from_webhook(payload: dict[str, Any]) -> Recording:
    """A ``conference.recording.saved`` payload (raises ``ValueError`` without ids)."""
    urls = _urls(payload.get("recording_urls"))
    return Recording(
        recording_id=_required(payload, "recording_id"),
        conference_id=_required(payload, "conference_id"),
        format=_text(payload.get("format")),
        channels=_text(payload.get("channels")),
        recording_started_at=_text(payload.get("recording_started_at")),
        recording_ended_at=_text(payload.get("recording_ended_at")),
        recording_urls=urls,
        public_recording_urls=_urls(payload.get("public_recording_urls")),
        call_session_id=_text(payload.get("call_session_id")),
        call_control_id=_text(payload.get("call_control_id")),
        connection_id=_text(payload.get("connection_id")),
        client_state=_text(payload.get("client_state")),
        source="webhook",
        links_expire_at=links_expiry(urls),
    )


def _one_format(urls: dict[str, str]) -> str | None:
    """A list item's format, from its links: only when it has one (an item with both a
    wav and an mp3 link says nothing of which was asked for, and matches either)."""
    return next(iter(urls)) if len(urls) == 1 else None


def from_listed(item: dict[str, Any]) -> Recording:
    """An item of ``GET /v2/recordings`` (or the ``data`` of ``GET /v2/recordings/{id}``)."""
    urls = _urls(item.get("download_urls"))
    duration = item.get("duration_millis")
    return Recording(
        recording_id=_required(item, "id"),
        conference_id=_required(item, "conference_id"),
        format=_one_format(urls),
        channels=_text(item.get("channels")),
        recording_started_at=_text(item.get("recording_started_at")),
        recording_ended_at=_text(item.get("recording_ended_at")),
        recording_urls=urls,
        call_session_id=_text(item.get("call_session_id")),
        duration_millis=duration if isinstance(duration, int) else None,
        source="reconciliation",
        links_expire_at=links_expiry(urls),
    )


def link_expiry(url: str) -> datetime | None:
    """When a presigned link dies: its ``X-Amz-Date`` plus ``X-Amz-Expires`` seconds."""
    query = parse_qs(urlsplit(url).query)
    signed, lasts = query.get("X-Amz-Date", [""])[0], query.get("X-Amz-Expires", [""])[0]
    try:
        start = datetime.strptime(signed, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return start + timedelta(seconds=int(lasts))
    except ValueError:
        return None


def links_expiry(urls: dict[str, str]) -> str | None:
    """The earliest expiry of the links; a link that does not say is taken to live the
    10 minutes Telnyx presigns for, from now (when it reached us)."""
    if not urls:
        return None
    said = [link_expiry(u) for u in urls.values()]
    assumed = datetime.now(UTC) + timedelta(seconds=PRESIGNED_FOR_S)
    found = [assumed if e is None else e for e in said]
    return min(found).isoformat(timespec="seconds").replace("+00:00", "Z")


def _required(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"a recording needs {name}")
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _urls(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str) and v}


def _datetime(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _timestamp(text: str | None) -> float | None:
    parsed = _datetime(text)
    return parsed.timestamp() if parsed else None
