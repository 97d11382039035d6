"""tasks.recording: one recording shape for the webhook and the list, links that expire."""

from __future__ import annotations

from datetime import UTC, datetime

from confrec.tasks.recording import from_listed, from_webhook, link_expiry
from confrec.tasks.store import keys
from confrec.tasks.store.schedule import conference_member

URL = (
    "https://s3.amazonaws.com/b/r.wav?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Date=20261207T100000Z&X-Amz-Expires=600&X-Amz-Signature=ab"
)


def test_link_expiry_is_read_from_the_link() -> None:
    assert link_expiry(URL) == datetime(2026, 12, 7, 10, 10, tzinfo=UTC)
    assert link_expiry("https://example.invalid/r.wav") is None


def test_webhook_and_list_give_the_same_shape() -> None:
    hook = from_webhook(
        {
            "recording_id": "r1",
            "conference_id": "c1",
            "format": "wav",
            "channels": "single",
            "recording_started_at": "2026-12-07T10:00:00Z",
            "recording_urls": {"wav": URL},
        }
    )
    listed = from_listed(
        {
            "id": "r1",
            "conference_id": "c1",
            "channels": "single",
            "download_urls": {"wav": URL},
            "recording_started_at": "2026-12-07T10:00:00Z",
            "duration_millis": 1000,
        }
    )
    assert hook.recording_id == listed.recording_id == "r1"
    assert hook.format == listed.format == "wav"
    assert hook.links_expire_at == listed.links_expire_at == "2026-12-07T10:10:00Z"
    assert (hook.source, listed.source) == ("webhook", "reconciliation")
    assert hook.started_ts == listed.started_ts


def test_status_leaves_dead_links_out() -> None:
    rec = from_webhook({"recording_id": "r", "conference_id": "c", "recording_urls": {"wav": URL}})
    shown = rec.as_status(datetime(2026, 12, 7, 10, 11, tzinfo=UTC))
    assert shown["recording_urls"] == {} and shown["links_expired"] is True
    assert next(iter(shown)) == "recording_id"
    fresh = rec.as_status(datetime(2026, 12, 7, 10, 5, tzinfo=UTC))
    assert fresh["recording_urls"] == {"wav": URL}


def test_a_list_item_with_links_of_both_formats_says_no_format() -> None:
    both = {"wav": URL, "mp3": URL.replace(".wav", ".mp3")}
    item = {"id": "r", "conference_id": "c", "download_urls": both}
    assert from_listed(item).format is None  # so it matches a wav job and an mp3 job
    assert from_listed(item | {"download_urls": {"mp3": URL}}).format == "mp3"


def test_a_link_that_does_not_say_is_taken_to_live_ten_minutes() -> None:
    before = datetime.now(UTC)
    rec = from_webhook(
        {"recording_id": "r", "conference_id": "c", "recording_urls": {"wav": "https://x/r"}}
    )
    assert rec.links_expire_at is not None
    expires = datetime.fromisoformat(rec.links_expire_at.replace("Z", "+00:00"))
    assert 599 <= (expires - before).total_seconds() <= 601


def test_a_conference_id_is_stored_in_one_case() -> None:
    upper = "3A4B5C6D-0000-4000-8000-00000000ABCD"
    assert keys.conference_jobs(upper) == keys.conference_jobs(upper.lower())
    assert conference_member(upper) == conference_member(upper.lower())
    assert keys.conference_jobs("Weekly Sync") != keys.conference_jobs("weekly sync")  # a name
