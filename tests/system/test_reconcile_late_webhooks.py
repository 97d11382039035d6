"""Webhooks that come after reconciliation, on a real Redis (Telnyx's list answered by
respx; a webhook stored as serve stores it): one found by the list already is stored
once — the recording still says reconciliation, the stream has one entry — and one for
a job already ``not_saved`` makes it ``saved``."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import redis
import respx

from confrec.tasks.recording import from_webhook
from confrec.tasks.store.conferences import ConferenceStore
from tests.support.reconciling import (
    BASE,
    RECORDINGS,
    listed,
    page,
    reconciler,
    saved_payload,
    started_job,
    status,
)


def reconciled(client: redis.Redis, conference_id: str, items: list[dict[str, object]]) -> None:
    """The conference ended; past the grace (0), Telnyx lists ``items``."""
    ConferenceStore(client, RECORDINGS).store_ended(
        conference_id, reason="all_left", source="webhook", occurred_at=None
    )
    found, api = reconciler(client)
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(f"{BASE}/recordings").mock(return_value=httpx.Response(200, json=page(items)))
        assert found.run_due() == 1
    api.close()


def webhook(client: redis.Redis, conference_id: str, recording_id: str, at: float) -> bool:
    """A verified ``conference.recording.saved``, stored as serve stores it; True if new."""
    payload = saved_payload(conference_id, recording_id, at)
    event: dict[str, Any] = {"record_type": "event", "event_type": "conference.recording.saved"}
    event |= {"id": str(uuid.uuid4()), "payload": payload}
    return (
        ConferenceStore(client, RECORDINGS).store_recording(from_webhook(payload), event)
        is not None
    )


def test_a_late_webhook_after_reconciliation_is_stored_once(client: redis.Redis) -> None:
    conference_id, recording_id = str(uuid.uuid4()), str(uuid.uuid4())
    job_id = started_job(client, conference_id)
    at = time.time()
    reconciled(client, conference_id, [listed(conference_id, recording_id, at)])
    (before,) = status(client, job_id).recording.recordings
    assert (
        before["source"] == "reconciliation" and status(client, job_id).recording.state == "saved"
    )
    assert client.xlen(RECORDINGS) == 1
    assert not webhook(client, conference_id, recording_id, at)
    shown = status(client, job_id).recording
    assert shown.state == "saved" and shown.recordings == [before]
    assert client.xlen(RECORDINGS) == 1


def test_a_webhook_after_not_saved_makes_the_job_saved(client: redis.Redis) -> None:
    conference_id, recording_id = str(uuid.uuid4()), str(uuid.uuid4())
    job_id = started_job(client, conference_id)
    at = time.time()
    reconciled(client, conference_id, [])
    assert status(client, job_id).recording.state == "not_saved"
    assert webhook(client, conference_id, recording_id, at)
    shown = status(client, job_id).recording
    assert shown.state == "saved"
    assert [(r["recording_id"], r["source"]) for r in shown.recordings] == [
        (recording_id, "webhook")
    ]
