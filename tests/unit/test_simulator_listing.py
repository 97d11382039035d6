"""The simulator's read calls as Telnyx serves them: ``GET /v2/recordings`` (filters, paging,
regions, only saved recordings, ``unsaved-``/``nosavedhook-``/``listlate-``),
``GET /v2/recordings/{id}``, ``GET /v2/conferences`` and ``GET /v2/conferences/{id}``;
the bearer; Telnyx's clock (skew, start lag, ``Date``).  Real server on loopback, our clock
a hand-moved one."""

from __future__ import annotations

import time
import uuid
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from confrec.simulator.times import iso, parse_iso
from tests.support.sim_webhooks import Receiver, public_key, settled, simulator, verify, wait_for
from tests.support.simulator import FakeClock, conferences, start


def ts(text: str) -> float:
    t = parse_iso(text)
    assert t is not None, text
    return t


def listed(c: httpx.Client, **params: Any) -> dict[str, Any]:
    answer = c.get("/v2/recordings", params=params)
    assert answer.status_code == 200, answer.text
    doc: dict[str, Any] = answer.json()
    return doc


def test_recordings_listed_by_conference_region_time_session_and_paged() -> None:
    clock = FakeClock()
    with simulator(recording_seconds=2, clock=clock) as c:
        for _ in range(3):
            assert start(c, "room", format="mp3", channels="dual").status_code == 200
        assert start(c, "room", region="Europe").status_code == 200
        assert start(c, "other").status_code == 200
        room = conferences(c)["room"]  # the latest "room": Europe's
        us_room = next(
            r
            for r in c.get("/_sim/conferences").json()
            if r["region"] == "US" and r["name"] == "room"
        )
        assert listed(c)["data"] == []  # nothing saved yet: only completed recordings list
        clock.advance(2)
        everything = listed(c)
        assert everything["meta"] == {
            "page_number": 1,
            "page_size": 20,
            "total_pages": 1,
            "total_results": 4,
        }
        mine = {"filter[conference_id]": us_room["id"]}
        first = listed(c, **mine, **{"page[size]": 2})
        second = listed(c, **mine, **{"page[size]": 2, "page[number]": 2})
        assert first["meta"] == {
            "page_number": 1,
            "page_size": 2,
            "total_pages": 2,
            "total_results": 3,
        }
        assert len(first["data"]) == 2 and len(second["data"]) == 1
        assert listed(c, **mine, **{"page[number]": 3})["data"] == []
        item = second["data"][0]
        europe = listed(c, **{"filter[conference_region]": "Europe"})["data"]
        assert [r["conference_id"] for r in europe] == [room["id"]]
        session = listed(c, **{"filter[call_session_id]": item["call_session_id"]})["data"]
        assert [r["id"] for r in session] == [item["id"]]
        created = item["created_at"]
        assert len(listed(c, **{"filter[created_at][gte]": created})["data"]) == 4
        assert listed(c, **{"filter[created_at][lte]": iso(clock.t - 60)})["data"] == []
        for bad in (
            {"page[size]": "251"},
            {"page[number]": "0"},
            {"page[size]": "x"},
            {"filter[created_at][gte]": "yesterday"},
            {"filter[conference_region]": "Mars"},
        ):
            answer = c.get("/v2/recordings", params=bad)
            assert answer.status_code == 422 and answer.json()["errors"][0]["code"], bad
        calls = c.get("/_sim/calls").json()
    assert {
        k: item[k] for k in ("record_type", "channels", "initiated_by", "source", "status")
    } == {
        "record_type": "recording",
        "channels": "dual",
        "initiated_by": "StartConferenceRecordingAPI",
        "source": "conference",
        "status": "completed",
    }
    assert item["conference_id"] == us_room["id"] and item["duration_millis"] == 2000
    assert list(item["download_urls"]) == ["mp3"]
    assert ts(item["recording_ended_at"]) - ts(item["recording_started_at"]) == 2
    assert item["created_at"] == item["updated_at"] == item["recording_ended_at"]
    assert calls[0]["path"] == "/v2/recordings" and calls[0]["status"] == 200
    assert "page%5Bsize%5D=2" in calls[2]["query"] or "page[size]=2" in calls[2]["query"]


def test_lost_unheard_and_late_recordings(receiver: Receiver) -> None:
    clock = FakeClock()
    with simulator(webhook_url=receiver.url, recording_seconds=0, clock=clock) as c:
        for name in ("unsaved-1-a", "unsaved-1-a", "nosavedhook-b", "listlate-60000-c"):
            assert start(c, name).status_code == 200
        assert settled(c)["sent"] == 2  # unsaved-1-a's second and listlate's
        rows = conferences(c)
        ids = {name: rows[name]["id"] for name in rows}
        first = {r["conference_id"] for r in listed(c)["data"]}
        assert first == {ids["unsaved-1-a"], ids["nosavedhook-b"]}
        clock.advance(60)
        assert {r["conference_id"] for r in listed(c)["data"]} == set(ids.values())
        lost = rows["unsaved-1-a"]["recordings"][0]
        assert not lost["saved"]
        assert c.get(f"/v2/recordings/{lost['id']}").status_code == 404
    hooked = {h.doc["data"]["payload"]["conference_id"] for h in receiver.hits()}
    assert hooked == {ids["unsaved-1-a"], ids["listlate-60000-c"]}


def test_get_recording_and_conferences() -> None:
    with simulator(recording_seconds=0) as c:
        assert start(c, "room", command_id="x").status_code == 200
        assert start(c, "room", region="Australia").status_code == 200
        (item,) = listed(c)["data"]
        one = c.get(f"/v2/recordings/{item['id']}")
        assert one.status_code == 200 and one.json()["data"]["id"] == item["id"]
        missing = c.get(f"/v2/recordings/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert missing.json()["errors"][0]["title"] == "Resource not found"
        us = c.get("/v2/conferences", params={"filter[name]": "room"}).json()
        (conf,) = us["data"]
        assert us["meta"]["total_results"] == 1
        assert (conf["record_type"], conf["name"], conf["region"], conf["status"]) == (
            "conference",
            "room",
            "US",
            "in_progress",
        )
        assert ts(conf["expires_at"]) - ts(conf["created_at"]) == 3600
        aus = c.get("/v2/conferences", params={"region": "Australia"}).json()["data"]
        assert [a["region"] for a in aus] == ["Australia"] and aus[0]["id"] != conf["id"]
        assert c.get(f"/v2/conferences/{conf['id']}").json()["data"] == conf
        assert (
            c.get(f"/v2/conferences/{conf['id']}", params={"region": "Australia"}).status_code
            == 404
        )
        assert c.get(f"/v2/conferences/{uuid.uuid4()}").status_code == 404
        c.post(f"/_sim/conferences/{conf['id']}/end")
        done = c.get("/v2/conferences", params={"filter[status]": "completed"}).json()["data"]
        assert [d["id"] for d in done] == [conf["id"]] and done[0]["end_reason"] == "all_left"
        assert (
            c.get("/v2/conferences", params={"filter[status]": "in_progress"}).json()["data"] == []
        )
        assert c.get("/v2/conferences", params={"filter[status]": "over"}).status_code == 422


def test_every_read_call_needs_the_bearer() -> None:
    with simulator(api_key="right", recording_seconds=0) as c:
        for path in (
            "/v2/recordings",
            f"/v2/recordings/{uuid.uuid4()}",
            "/v2/conferences",
            f"/v2/conferences/{uuid.uuid4()}",
        ):
            for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": ""}):
                answer = c.get(path, headers=headers)
                assert answer.status_code == 401 and answer.json()["errors"][0]["code"] == "10009"
            assert c.get(path, headers={"Authorization": "Bearer right"}).status_code in (200, 404)


def test_telnyx_clock_skew_and_start_lag(receiver: Receiver) -> None:
    clock = FakeClock()
    skew = -90.0
    options = {"clock_skew_s": skew, "start_lag_ms": 250, "recording_seconds": 1}
    with simulator(webhook_url=receiver.url, clock=clock, **options) as c:
        key = public_key(c)
        answer = start(c, "room")
        assert answer.status_code == 200
        date = parsedate_to_datetime(answer.headers["date"]).timestamp()
        assert date == int(clock.t + skew)  # the Date header is on Telnyx's clock
        assert len(answer.headers.get_list("date")) == 1  # uvicorn adds none of its own
        wait_for(lambda: len(receiver.hits()) == 1, "the saved webhook")
        conf = conferences(c)["room"]
        clock.advance(2)
        (item,) = listed(c)["data"]
    (hit,) = receiver.hits()
    verify(hit, key)  # signed on the real clock, so it still verifies
    assert abs(int(hit.headers["telnyx-timestamp"]) - time.time()) < 30
    payload = hit.doc["data"]["payload"]
    started = clock.t - 2 + skew + 0.25
    assert ts(payload["recording_started_at"]) == started
    assert ts(item["recording_started_at"]) == started
    assert ts(item["recording_ended_at"]) == started + 1
    assert ts(conf["created_at"]) == clock.t - 2 + skew
