"""Telnyx's own Python SDK (``telnyx`` 4.x) against the simulator, over real HTTP on loopback:
the read calls it makes (deepObject filters, paging, region) are served, its models parse
the answers into typed fields, its auto-paging walks the pages, and its Ed25519 webhook
verification accepts the simulator's signed webhooks — what the SDK would do against
Telnyx, so the simulator cannot drift from the shapes Telnyx's SDK expects."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import telnyx
from telnyx.lib.webhooks_ed25519 import (
    WebhookVerificationError,
    unwrap_with_ed25519,
    verify_ed25519,
)
from telnyx.types import (
    Conference,
    ConferenceEndedWebhookEvent,
    ConferenceRecordingSavedWebhookEvent,
    RecordingResponseData,
)

from tests.support.sim_webhooks import Receiver, public_key, simulator, wait_for
from tests.support.simulator import FakeClock, conferences, start

KEY = "KEYsdk-test"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(receiver: Receiver, clock: FakeClock) -> Iterator[httpx.Client]:
    with simulator(
        api_key=KEY, webhook_url=receiver.url, recording_seconds=1, clock=clock, clock_skew_s=-4
    ) as c:
        c.headers["Authorization"] = f"Bearer {KEY}"
        yield c


def sdk(c: httpx.Client, public: str | None = None) -> telnyx.Telnyx:
    root = str(c.base_url).rstrip("/")
    return telnyx.Telnyx(api_key=KEY, base_url=f"{root}/v2", max_retries=0, public_key=public)


def test_sdk_lists_and_retrieves_recordings(sim: httpx.Client, clock: FakeClock) -> None:
    for _ in range(3):
        assert start(sim, "room", format="mp3", channels="dual").status_code == 200
    assert start(sim, "room", region="Europe").status_code == 200
    clock.advance(1)
    room = next(r for r in sim.get("/_sim/conferences").json() if r["region"] == "US")
    client = sdk(sim)
    page = client.recordings.list(
        filter={
            "conference_id": room["id"],
            "created_at": {"gte": room["created_at"]},
            "conference_region": "US",
        },
        page_size=2,
    )
    assert len(page.data) == 2 and page.meta is not None
    assert (page.meta.page_number, page.meta.total_pages) == (1, 2)
    everything = list(page)  # the SDK's auto-paging asks for page 2 itself
    assert len(everything) == 3 and len({r.id for r in everything}) == 3
    first = everything[0]
    assert isinstance(first, RecordingResponseData)
    assert (first.conference_id, first.channels, first.status, first.source) == (
        room["id"],
        "dual",
        "completed",
        "conference",
    )
    assert first.download_urls is not None and first.download_urls.mp3
    assert first.duration_millis == 1000 and first.initiated_by == "StartConferenceRecordingAPI"
    europe = client.recordings.list(filter={"conference_region": "Europe"})
    assert [r.conference_id for r in europe.data] != [room["id"]] and len(europe.data) == 1
    one = client.recordings.retrieve(first.id or "")
    assert one.data is not None and one.data.id == first.id
    assert one.data.download_urls is not None and one.data.download_urls.mp3
    assert httpx.get(one.data.download_urls.mp3).status_code == 200
    with pytest.raises(telnyx.NotFoundError):
        client.recordings.retrieve("00000000-0000-4000-8000-000000000000")
    with pytest.raises(telnyx.AuthenticationError):
        telnyx.Telnyx(api_key="wrong", base_url=client.base_url, max_retries=0).recordings.list()
    calls = [(call["path"], call["status"]) for call in sim.get("/_sim/calls").json()]
    assert calls[:2] == [("/v2/recordings", 200), ("/v2/recordings", 200)]
    assert (f"/v2/recordings/{first.id}", 200) in calls
    queries = [call["query"] for call in sim.get("/_sim/calls").json()]
    assert "filter%5Bconference_id%5D=" in queries[0] and "page%5Bnumber%5D=2" in queries[1]


def test_sdk_lists_and_retrieves_conferences(sim: httpx.Client, clock: FakeClock) -> None:
    assert start(sim, "room").status_code == 200
    assert start(sim, "room", region="Europe").status_code == 200
    assert start(sim, "other").status_code == 200
    client = sdk(sim)
    (conf,) = client.conferences.list(filter={"name": "room", "status": "in_progress"}).data
    assert isinstance(conf, Conference)
    assert (conf.name, conf.region, conf.status, conf.record_type) == (
        "room",
        "US",
        "in_progress",
        "conference",
    )
    europe = client.conferences.list(filter={"name": "room"}, region="Europe").data
    assert [c.region for c in europe] == ["Europe"] and europe[0].id != conf.id
    got = client.conferences.retrieve(conf.id)
    assert got.data is not None and got.data.id == conf.id and got.data.expires_at
    with pytest.raises(telnyx.NotFoundError):
        client.conferences.retrieve(conf.id, region="Europe")
    sim.post(f"/_sim/conferences/{conf.id}/end")
    ended = client.conferences.retrieve(conf.id).data
    assert ended is not None and (ended.status, ended.end_reason) == ("completed", "all_left")
    assert client.conferences.list(filter={"status": "completed"}).data[0].id == conf.id
    served = {(c["path"], c["status"]) for c in sim.get("/_sim/calls").json()}
    assert {("/v2/conferences", 200), (f"/v2/conferences/{conf.id}", 200)} <= served
    assert (f"/v2/conferences/{conf.id}", 404) in served


def test_sdk_verifies_the_simulators_webhooks(
    sim: httpx.Client, receiver: Receiver, clock: FakeClock
) -> None:
    assert start(sim, "room").status_code == 200
    sim.post("/_sim/conferences/room/end")
    wait_for(lambda: len(receiver.hits()) == 2, "saved and ended")
    room = conferences(sim)["room"]
    client = sdk(sim, public=public_key(sim))
    events: set[str | None] = set()
    for hit in receiver.hits():
        verify_ed25519(client, hit.body, hit.headers)  # raises when it does not verify
        event = unwrap_with_ed25519(client, hit.body, hit.headers)
        # Typed by the SDK's own models, not dicts.
        if isinstance(event, ConferenceRecordingSavedWebhookEvent):
            assert event.data is not None and event.data.payload is not None
            saved = event.data.payload
            assert saved.conference_id == room["id"] and saved.recording_id
            assert saved.recording_urls is not None and saved.recording_urls.wav
            events.add(event.data.event_type)
        else:
            assert isinstance(event, ConferenceEndedWebhookEvent), type(event)
            assert event.data is not None and event.data.payload is not None
            ended = event.data.payload
            assert (ended.conference_id, ended.reason) == (room["id"], "all_left")
            events.add(event.data.event_type)
    assert events == {"conference.recording.saved", "conference.ended"}
    tampered = receiver.hits()[0].body.replace(b"room", b"ROOM") + b" "
    with pytest.raises(WebhookVerificationError):
        verify_ed25519(client, tampered, receiver.hits()[0].headers)
