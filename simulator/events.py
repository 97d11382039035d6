"""The ``data`` of the webhooks the simulator sends, shaped as Telnyx's SDK types them.

``conference.recording.saved`` (``conference_recording_saved.py``) and ``conference.ended``
(``conference_ended.py``): times on Telnyx's clock, the conference's **id** (never the name
it was addressed by).  A saved event's ``recording_urls`` are presigned when the recording
is saved, so a delivery retried long enough carries links that have died, as Telnyx's do.
"""

from __future__ import annotations

import uuid
from typing import Any

from confrec.simulator.conferences import CONNECTION_ID, Conference, SimRecording, call_control_id
from confrec.simulator.files import Links
from confrec.simulator.times import iso

__all__ = ["ENDED", "SAVED", "ended_event", "saved_event"]

SAVED = "conference.recording.saved"
ENDED = "conference.ended"


def _envelope(event_type: str, occurred_at: float, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "record_type": "event",
        "event_type": event_type,
        "id": str(uuid.uuid4()),
        "occurred_at": iso(occurred_at),
        "payload": payload,
    }


def saved_event(rec: SimRecording, links: Links, base: str) -> dict[str, Any]:
    """The saved event of ``rec``, its links made at the moment it was saved."""
    clock = links.clock
    saved_at = clock.telnyx(rec.ended_at)
    return _envelope(
        SAVED,
        saved_at,
        {
            "conference_id": rec.conference.id,
            "recording_id": rec.id,
            "format": rec.format,
            "channels": rec.channels,
            "recording_started_at": iso(clock.telnyx(rec.started_at)),
            "recording_ended_at": iso(saved_at),
            "recording_urls": {rec.format: links.presign(base, rec.id, rec.format, saved_at)},
            "public_recording_urls": {rec.format: links.public(base, rec.id, rec.format)},
            "connection_id": CONNECTION_ID,
            "call_control_id": rec.call_control_id,
            "call_session_id": rec.call_session_id,
            "client_state": None,
        },
    )


def ended_event(conf: Conference, links: Links) -> dict[str, Any]:
    """The ``conference.ended`` event of ``conf`` (which has ended)."""
    assert conf.ended_at is not None
    occurred = iso(links.clock.telnyx(conf.ended_at))
    return _envelope(
        ENDED,
        links.clock.telnyx(conf.ended_at),
        {
            "conference_id": conf.id,
            "call_control_id": call_control_id(),
            "call_leg_id": str(uuid.uuid4()),
            "call_session_id": str(uuid.uuid4()),
            "client_state": None,
            "connection_id": CONNECTION_ID,
            "occurred_at": occurred,
            "reason": conf.end_reason,
        },
    )
