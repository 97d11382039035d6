"""``GET /v1/events`` on a real ``confrec serve`` and worker, read as ``curl -N`` reads it:
outcomes arrive live, only to their owner (an operator sees all), filtered by batch,
resumable with ``Last-Event-ID``; recording states too, with a ``gap`` when trimming took
what a resuming reader had not read; heartbeats; a bound on open streams."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from confrec.tasks.store import keys
from confrec.worker.local.processes import ManagedProcess
from tests.support.serve import OPERATOR_TOKEN, TOKEN_A, TOKEN_B, Stack, counters, running_stack
from tests.support.sse import Event, EventReader, open_events
from tests.support.system import unique_id
from tests.support.waiting import poll

MAX_CLIENTS = 3
CAROL = f"carol-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def tokens_file(workdir: Path) -> Path:
    path = workdir / f"event-tokens-{uuid.uuid4().hex[:8]}"
    path.write_text(f"carol:{CAROL}\n")
    return path


@pytest.fixture(scope="module")
def stack(
    redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path, tokens_file: Path
) -> Iterator[Stack]:
    with running_stack(
        workdir,
        redis_proc.extra["url"],
        simulator,
        CONFREC_EVENTS_MAX_CLIENTS=str(MAX_CLIENTS),
        CONFREC_EVENTS_HEARTBEAT_S="1",
        CONFREC_API_TOKENS_FILE=str(tokens_file),
    ) as running:
        running.system.start_worker(f"events-{uuid.uuid4().hex[:6]}", concurrency=4)
        yield running


def bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


def ready(events: list[Event]) -> bool:
    return any(e.name == "ready" for e in events)


def outcomes(reader: EventReader, job_ids: list[str]) -> list[Event]:
    return [e for e in reader.named("outcome") if e.data["job_id"] in job_ids]


def bulk(stack: Stack, n: int, token: str = TOKEN_A) -> tuple[str, list[str]]:
    jobs = [
        {"conference_id": unique_id(), "format": "wav", "labels": {"meeting": str(i)}}
        for i in range(n)
    ]
    answer = stack.api.send("POST", "/v1/jobs/bulk", token=token, body=jobs)
    assert answer.status_code == 202, answer.text
    return answer.json()["batch"], [job["job_id"] for job in answer.json()["jobs"]]


def test_outcomes_live_to_their_owner_by_batch_and_resumed(stack: Stack) -> None:
    http, url = stack.api.http, f"{stack.api.root}/v1/events"
    with (
        open_events(http, url, bearer(TOKEN_A)) as mine,
        open_events(http, url, bearer(TOKEN_B)) as theirs,
    ):
        mine.until(ready, 5, "A's stream ready")
        theirs.until(ready, 5, "B's stream ready")
        batch, ids = bulk(stack, 3)
        _, (b_job,) = bulk(stack, 1, TOKEN_B)
        mine.until(lambda _: len(outcomes(mine, ids)) == 3, 30, "A's outcomes")
        theirs.until(lambda _: outcomes(theirs, [b_job]) != [], 30, "B's outcome")
    got = outcomes(mine, ids)
    assert sorted(e.data["seq"] for e in got) == [1, 2, 3]
    for event in got:
        assert event.data["batch"] == batch and event.data["status"] == "succeeded"
        assert event.data["labels"] == {"meeting": str(ids.index(event.data["job_id"]))}
    assert not outcomes(mine, [b_job]) and not outcomes(theirs, ids)  # each its own only

    # The operator, following the batch, resumes after the first outcome A saw.
    resume = {"Last-Event-ID": str(got[0].event_id)}
    with open_events(http, f"{url}?batch={batch}", bearer(OPERATOR_TOKEN, **resume)) as again:
        again.until(lambda _: len(again.named("outcome")) == 2, 10, "the rest, again")
    assert [e.data["job_id"] for e in again.named("outcome")] == [e.data["job_id"] for e in got[1:]]
    assert not again.named("gap")

    for token, query, status in (
        (TOKEN_B, f"?batch={batch}", 404),  # not B's batch: the same as no batch
        (TOKEN_A, "?batch=no-such-batch", 404),
        (TOKEN_A, "?last_event_id=1-0", 422),
        (None, "", 401),
    ):
        answer = stack.api.send("GET", f"/v1/events{query}", token=token)
        assert answer.status_code == status, (query, answer.text)


def _recording(job_id: str, batch: str, principal: str, state: str) -> dict[str, str]:
    fields = {"job_id": job_id, "batch": batch, "principal": principal, "state": state}
    return fields | {"conference_id": "conf-x", "reason": ""}


def test_recording_states_follow_with_labels_and_a_gap_is_told(stack: Stack) -> None:
    http, url = stack.api.http, f"{stack.api.root}/v1/events"
    state = stack.system.state
    batch, (job,) = bulk(stack, 1)
    owner = str(state.hget(keys.job_state(job), "principal"))
    with open_events(http, f"{url}?batch={batch}", bearer(TOKEN_A)) as mine:
        mine.until(ready, 5, "ready")
        state.xadd(keys.RECORDING_STATES, _recording(job, batch, "someone-else", "saved"))
        state.xadd(keys.RECORDING_STATES, _recording(job, batch, owner, "saved"))
        mine.until(lambda _: mine.named("recording") != [], 10, "the recording event")
    (event,) = mine.named("recording")
    assert event.data == {
        "job_id": job,
        "batch": batch,
        "conference_id": "conf-x",
        "state": "saved",
        "reason": None,
        "labels": {"meeting": "0"},
    }

    # Trimmed past where a reader stood: told, then what is still there.
    before = str(event.event_id).split(",")[1]
    state.xadd(keys.RECORDING_STATES, _recording(job, batch, owner, "not_saved"))
    kept = state.xadd(keys.RECORDING_STATES, _recording(job, batch, owner, "unknown"))
    state.execute_command("XTRIM", keys.RECORDING_STATES, "MINID", kept)
    resume = {"Last-Event-ID": f"{str(event.event_id).split(',')[0]},{before}"}
    with open_events(http, f"{url}?batch={batch}", bearer(TOKEN_A, **resume)) as later:
        later.until(lambda _: later.named("recording") != [], 10, "after the gap")
    gap = later.named("gap")
    assert [g.data for g in gap] == [
        {"stream": "recording_states", "missed_from": before, "oldest": kept}
    ]
    assert [e.data["state"] for e in later.named("recording")] == ["unknown"]


def test_open_streams_are_bounded_and_idle_ones_hear_heartbeats(stack: Stack) -> None:
    http, url = stack.api.http, f"{stack.api.root}/v1/events"

    def gauge() -> int:
        return counters(stack.api, "confrec_event_stream_clients")[()]

    poll(gauge, lambda n: n == 0, 10, "earlier streams closed")
    with (
        open_events(http, url, bearer(TOKEN_A)) as first,
        open_events(http, url, bearer(TOKEN_B)),
        open_events(http, url, bearer(OPERATOR_TOKEN)),
    ):
        assert gauge() == MAX_CLIENTS
        refused = stack.api.send("GET", "/v1/events")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        first.until(lambda _: "hb" in first.comments, 5, "a heartbeat")
    poll(gauge, lambda n: n == 0, 10, "streams closed once their clients left")
    with open_events(http, url, bearer(TOKEN_A)) as after:
        after.until(ready, 5, "a stream once the others left")


def _cookie(answer: Any) -> str:
    header = str(answer.headers["set-cookie"])
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/" in header
    return header.split(";")[0].split("=", 1)[1]
