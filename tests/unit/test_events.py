"""The event stream's pure rules: the resumable id, who sees an entry, each event's data."""

from __future__ import annotations

import pytest

from confrec.tasks.events import Position, outcome_data, recording_data, visible
from confrec.tasks.principal import Principal


def test_an_event_id_names_a_place_in_both_streams_and_reads_back() -> None:
    place = Position("1700000000000-3", "1700000000001-0")
    assert place.event_id == "1700000000000-3,1700000000001-0"
    assert Position.parse(place.event_id) == place
    assert place.after("results", "1700000000002-0").results == "1700000000002-0"
    assert place.after("recording_states", "9-9").recordings == "9-9"


@pytest.mark.parametrize(
    "text", ["", "1-0", "1-0,", ",1-0", "1-0,x", "1-0,1-0,1-0", "-1-0,1-0", "1-0;2-0", "9" * 90]
)
def test_anything_else_is_no_event_id(text: str) -> None:
    with pytest.raises(ValueError):
        Position.parse(text)


def test_a_principal_sees_its_own_entries_an_operator_all_and_a_batch_filters() -> None:
    alice, ops = Principal("alice"), Principal("ops", operator=True)
    own = {"principal": "alice", "batch": "b1"}
    cli = {"principal": "", "batch": ""}
    assert visible(own, alice, None) and visible(own, alice, "b1")
    assert not visible(own, alice, "b2") and not visible(own, Principal("bob"), None)
    assert not visible(cli, alice, None) and visible(cli, ops, None)
    assert not visible(cli, ops, "b1")


def test_each_event_carries_what_its_stream_holds_and_the_jobs_state() -> None:
    outcome = {"outcome": '{"job_id": "j1", "status": "succeeded"}'}
    assert outcome_data(outcome, "7") == {"job_id": "j1", "status": "succeeded", "seq": 7}
    assert outcome_data(outcome, None)["seq"] is None  # type: ignore[index]
    assert outcome_data({"outcome": "[1]"}, None) is None
    assert outcome_data({}, None) is None
    entry = {"job_id": "j1", "batch": "b1", "conference_id": "c", "state": "saved", "reason": ""}
    assert recording_data(entry, '{"meeting": "4711"}') == {
        "job_id": "j1",
        "batch": "b1",
        "conference_id": "c",
        "state": "saved",
        "reason": None,
        "labels": {"meeting": "4711"},
    }
    assert recording_data(entry, "not json")["labels"] is None
