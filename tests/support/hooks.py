"""Telnyx's webhooks in the system tests: events shaped as Telnyx's, signed as Telnyx signs them,
and a serve's webhook side as a test sees it (deliveries, the recordings stream, counts)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from nacl.signing import SigningKey

from tests.support.serve import JSON, Stack, counters
from tests.support.system import unique_id

SAVED = "conference.recording.saved"
ENDED = "conference.ended"
STORED = (SAVED, "stored")
DUPLICATE = (SAVED, "duplicate")


def public_key(key: SigningKey) -> str:
    return base64.b64encode(bytes(key.verify_key)).decode()


def signed(key: SigningKey, body: bytes, timestamp: int | str) -> dict[str, str]:
    """Headers as Telnyx sends them: Ed25519 over ``"{timestamp}|{body}"``."""
    signature = key.sign(f"{timestamp}|".encode() + body).signature
    return {
        **JSON,
        "telnyx-timestamp": str(timestamp),
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
    }


def saved_event(
    conference_id: str,
    fmt: str = "wav",
    *,
    event_type: str = SAVED,
    at: float | None = None,
    started_at: str | None = None,
) -> dict[str, Any]:
    """A webhook's ``data``, shaped as Telnyx's ``conference.recording.saved``;
    ``started_at`` (ISO): when recording began, which decides the job it belongs to."""
    recording_id = str(uuid.uuid4())
    when = datetime.fromtimestamp(at or time.time(), UTC).isoformat()
    started = {"recording_started_at": started_at} if started_at else {}
    return {
        "record_type": "event",
        "event_type": event_type,
        "id": str(uuid.uuid4()),
        "occurred_at": when,
        "payload": {
            "conference_id": conference_id,
            "recording_id": recording_id,
            "format": fmt,
            "channels": "single",
            **started,
            "recording_ended_at": when,
            "recording_urls": {fmt: presigned(f"{recording_id}.{fmt}", at or time.time())},
        },
    }


#: How long ``presigned`` links live, as Telnyx's do.
LINK_LIFE_S = 600


def presigned(name: str, at: float) -> str:
    """A link shaped as Telnyx's presigned ones: it says when it dies."""
    signed = datetime.fromtimestamp(int(at), UTC)
    query = f"X-Amz-Date={signed:%Y%m%dT%H%M%SZ}&X-Amz-Expires={LINK_LIFE_S}&X-Amz-Signature=00"
    return f"https://rec.example.invalid/{name}?{query}"


def ended_event(conference_id: str) -> dict[str, Any]:
    """A webhook's ``data``, shaped as Telnyx's ``conference.ended``."""
    when = datetime.now(UTC).isoformat()
    return {
        "record_type": "event",
        "event_type": ENDED,
        "id": str(uuid.uuid4()),
        "occurred_at": when,
        "payload": {"conference_id": conference_id, "occurred_at": when, "reason": "all_left"},
    }


def shown(data: dict[str, Any]) -> dict[str, Any]:
    """How a job's status shows the recording of a saved event: its payload at the top,
    and where it came from."""
    payload = data["payload"]
    (url,) = payload["recording_urls"].values()
    signed = datetime.strptime(url.split("X-Amz-Date=")[1][:16], "%Y%m%dT%H%M%SZ")
    expires = signed.replace(tzinfo=UTC) + timedelta(seconds=LINK_LIFE_S)
    return {
        **payload,
        "source": "webhook",
        "public_recording_urls": {},
        "links_expire_at": expires.isoformat().replace("+00:00", "Z"),
    }


def envelope(data: dict[str, Any], attempt: int = 1) -> bytes:
    meta = {"attempt": attempt, "delivered_to": "http://127.0.0.1/webhooks/telnyx"}
    return json.dumps({"data": data, "meta": meta}, separators=(",", ":")).encode()


@dataclass
class Hooks:
    stack: Stack
    key: SigningKey

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.stack.api.send(
            "POST", "/webhooks/telnyx", token=None, content=body, headers=headers
        )

    def deliver(self, data: dict[str, Any], *, timestamp: int | None = None) -> httpx.Response:
        body = envelope(data)
        return self.post(body, signed(self.key, body, timestamp or int(time.time())))

    def entries(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """The recordings stream: (the event's data, the entry's fields), oldest first."""
        rows: Any = self.stack.system.state.xrange(self.stack.recordings_stream)
        return [(json.loads(fields["event"]), fields) for _, fields in rows]

    def entries_of(self, data: dict[str, Any]) -> list[dict[str, str]]:
        return [fields for event, fields in self.entries() if event["id"] == data["id"]]

    def counts(self) -> Counter[tuple[str, ...]]:
        """confrec_webhooks_total by (event_type, result)."""
        return counters(self.stack.api, "confrec_webhooks_total")

    def started_job(self, conference_id: str | None = None) -> dict[str, str]:
        """A job enqueued over HTTP and run by the worker (so it was started); with
        ``finished_at``, a moment inside its start window (Telnyx's clock is ours here)."""
        accepted = self.stack.api.enqueue(
            {"conference_id": conference_id or unique_id(), "format": "wav"}
        )
        outcome = self.stack.api.finished(accepted["job_id"])["outcome"]
        assert outcome["status"] == "succeeded"
        return {**accepted, "finished_at": outcome["finished_at"]}
