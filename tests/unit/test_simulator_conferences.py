"""Telnyx's conferences in the simulator: an id is an id, a name gets a conference with a
fresh UUID id (a new one once it ended), regions kept apart, lifetimes (``endafter-S-``,
``conference_seconds``) and early ends, each sending a signed ``conference.ended``; a
record_start on an ended conference answers 422 90019.  Our clock is a hand-moved one
(``SimOptions.clock``), the server a real one on loopback."""

from __future__ import annotations

import uuid

from confrec.simulator.conferences import ConferenceBook, is_uuid
from confrec.simulator.faults import parse_faults
from tests.support.sim_webhooks import Receiver, public_key, settled, simulator, verify, wait_for
from tests.support.simulator import FakeClock, conferences, start


def test_parse_telnyx_side_directives() -> None:
    plan = parse_faults("nosavedhook-unsaved-2-noend-listlate-300-endafter-5-x")
    assert (plan.no_saved_hook, plan.unsaved, plan.no_end_hook) == (True, 2, True)
    assert (plan.list_late_ms, plan.end_after_s) == (300.0, 5.0)
    assert parse_faults("conf").end_after_s is None
    for normal in ("noend", "unsaved-x-y", "endafter-5", "x-noend-y"):
        assert parse_faults(normal) == parse_faults("conf"), normal


def test_book_names_ids_regions_and_lifetimes() -> None:
    book = ConferenceBook(lifetime_s=100, recording_seconds=2, start_lag_s=0.5)
    named = book.touch("room", "US", 10.0)
    assert is_uuid(named.id) and named.name == "room" and named.expires_at == 110.0
    assert book.touch("room", "US", 11.0) is named
    europe = book.touch("room", "Europe", 11.0)
    assert europe is not named and europe.region == "Europe"
    given = str(uuid.uuid4()).upper()
    by_id = book.touch(given, "US", 12.0)
    assert by_id.id == given.lower() and book.touch(given.lower(), "US", 13.0) is by_id
    rec = book.start_recording(named, "wav", "single", 20.0)
    assert (rec.started_at, rec.ended_at, rec.saved) == (20.5, 22.5, True)
    assert not rec.listed(22.4) and rec.listed(22.5)
    assert book.due(109.9) == [] and book.next_expiry() == 110.0
    assert book.due(110.0) == [named]  # europe is due at 111, by_id at 112
    assert (named.status, named.end_reason, named.ended_at) == ("completed", "time_exceeded", 110.0)
    renewed = book.touch("room", "US", 120.0)
    assert renewed is not named and renewed.name == "room"
    assert book.find("room", "US") is renewed and book.find(named.id) is named
    assert [c.id for c in book.conferences("US")][:1] == [renewed.id]  # expires last: first
    assert europe.status == "in_progress"
    short = book.touch("endafter-5-unsaved-1-listlate-1000-x", "US", 0.0)
    assert short.expires_at == 5.0
    lost, kept = (book.start_recording(short, "mp3", "dual", 1.0) for _ in range(2))
    assert (lost.saved, kept.saved) == (False, True)
    assert not kept.listed(kept.ended_at + 0.9) and kept.listed(kept.ended_at + 1.0)
    assert [r.id for r in book.listed("US", 1e9)] == [rec.id, kept.id]  # newest first


def test_a_name_gets_a_uuid_and_webhooks_report_it(receiver: Receiver) -> None:
    with simulator(webhook_url=receiver.url, recording_seconds=0) as c:
        assert start(c, "room-1", region="Europe").status_code == 200
        wait_for(lambda: len(receiver.hits()) == 1, "the saved webhook")
        (conf,) = c.get("/_sim/conferences").json()
    assert (conf["name"], conf["region"], conf["status"]) == ("room-1", "Europe", "in_progress")
    assert uuid.UUID(conf["id"]).version == 4
    assert receiver.hits()[0].doc["data"]["payload"]["conference_id"] == conf["id"]
    assert [r["id"] for r in conf["recordings"]] == [
        receiver.hits()[0].doc["data"]["payload"]["recording_id"]
    ]


def test_end_early_sends_conference_ended_and_a_name_starts_anew(receiver: Receiver) -> None:
    with simulator(webhook_url=receiver.url, recording_seconds=60) as c:
        key = public_key(c)
        assert start(c, "room").status_code == 200
        first = conferences(c)["room"]
        ended = c.post("/_sim/conferences/room/end")
        assert ended.status_code == 200 and ended.json()["data"]["status"] == "completed"
        assert ended.json()["data"]["end_reason"] == "all_left"
        assert c.post(f"/_sim/conferences/{first['id']}/end").status_code == 409
        assert c.post("/_sim/conferences/nobody/end").status_code == 404
        wait_for(lambda: len(receiver.hits()) == 1, "conference.ended")
        # The name is free again: a new conference, a new id.
        assert start(c, "room").status_code == 200
        second = conferences(c)["room"]
        # An id that has ended stays ended.
        assert start(c, first["id"]).json()["errors"][0]["code"] == "90019"
        c.post("/_sim/reset")  # the pending saved webhooks go
    (hit,) = receiver.hits()
    verify(hit, key)
    data = hit.doc["data"]
    assert data["event_type"] == "conference.ended"
    payload = data["payload"]
    assert payload["conference_id"] == first["id"] != second["id"]
    assert payload["reason"] == "all_left" and payload["occurred_at"] == data["occurred_at"]
    assert set(payload) == {
        "conference_id",
        "call_control_id",
        "call_leg_id",
        "call_session_id",
        "client_state",
        "connection_id",
        "occurred_at",
        "reason",
    }


def test_lifetime_over_ends_with_time_exceeded_and_noend_is_silent(receiver: Receiver) -> None:
    clock = FakeClock()
    with simulator(webhook_url=receiver.url, recording_seconds=1, clock=clock) as c:
        for name in ("endafter-5-a", "noend-endafter-5-b", "c"):
            assert start(c, name).status_code == 200
        clock.advance(5)
        rows = conferences(c)  # any request ends what is due
        assert rows["endafter-5-a"]["status"] == rows["noend-endafter-5-b"]["status"]
        assert rows["endafter-5-a"]["end_reason"] == "time_exceeded"
        assert rows["c"]["status"] == "in_progress"  # the default lifetime: an hour
        assert start(c, rows["endafter-5-a"]["id"]).status_code == 422
        clock.advance(3600)
        assert conferences(c)["c"]["end_reason"] == "time_exceeded"
        assert settled(c)["sent"] == 3 + 2  # three saved, two ended (noend- sends none)
    ended = [h.doc["data"] for h in receiver.hits() if h.doc["data"]["event_type"].endswith("ed")]
    reasons = {
        d["payload"]["conference_id"]: d["payload"]["reason"]
        for d in ended
        if d["event_type"] == "conference.ended"
    }
    assert reasons == {
        rows["endafter-5-a"]["id"]: "time_exceeded",
        rows["c"]["id"]: "time_exceeded",
    }


def test_lifetime_timer_fires_without_requests(receiver: Receiver) -> None:
    with simulator(webhook_url=receiver.url, conference_seconds=0.2) as c:
        assert start(c, "quick").status_code == 200
        wait_for(
            lambda: any(h.doc["data"]["event_type"] == "conference.ended" for h in receiver.hits()),
            "conference.ended on its own",
        )


def test_an_id_in_another_region_is_not_found() -> None:
    given = str(uuid.uuid4())
    with simulator() as c:
        assert start(c, given, region="Europe").status_code == 200
        assert start(c, given, region="Europe").status_code == 200
        assert start(c, given).json()["errors"][0]["code"] == "90058"
        (conf,) = c.get("/_sim/conferences").json()
    assert (conf["id"], conf["region"], len(conf["recordings"])) == (given, "Europe", 2)
