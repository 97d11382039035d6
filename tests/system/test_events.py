"""``GET /v1/events`` on a real ``confrec serve`` and worker, read as ``curl -N`` reads it:
outcomes arrive live, only to their owner (an operator sees all), filtered by batch,
resumable with ``Last-Event-ID``; recording states too, with a ``gap`` when trimming took
what a resuming reader had not read; heartbeats; a bound on open streams. And the
browser's way in: a token buys an HttpOnly, SameSite=Strict session cookie that works
wherever the token does (an EventSource's stream too); a change made with the cookie
needs the CSRF header; signing out, or the token leaving the tokens file, ends the
session, an open stream included."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from confrec.tasks.store import keys
from confrec.tasks.store.sessions import digest
from confrec.worker.local.processes import ManagedProcess
from tests.support.serve import (
    GOOD,
    OPERATOR_TOKEN,
    TOKEN_A,
    TOKEN_B,
    Stack,
    counters,
    running_stack,
)
from tests.support.sse import Event, EventReader, open_events
from tests.support.system import unique_id
from tests.support.waiting import poll

MAX_CLIENTS = 3
CAROL = f"carol-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def tokens_file(workdir: Path) -> Path:
    """Carol's token in a file serve re-reads: removing it must end her session."""
    return workdir / f"event-tokens-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def stack(
    redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path, tokens_file: Path
) -> Iterator[Stack]:
    """At most 3 streams, heartbeats every second, and one worker."""
    tokens_file.write_text(f"carol:{CAROL}\n")
    settings = {
        "CONFREC_EVENTS_MAX_CLIENTS": str(MAX_CLIENTS),
        "CONFREC_EVENTS_HEARTBEAT_S": "1",
        "CONFREC_API_TOKENS_FILE": str(tokens_file),
    }
    with running_stack(
        workdir, redis_proc.extra["url"], simulator, port=None, **settings
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

    # A Last-Event-ID that is none of ours (a browser resends what it saw): from now, told.
    elsewhere = bearer(TOKEN_A, **{"Last-Event-ID": "42"})
    with open_events(http, f"{url}?batch={batch}", elsewhere) as fresh:
        fresh.until(lambda _: len(fresh.named("gap")) == 1, 10, "the gap of an unknown id")
    assert fresh.named("gap")[0].data == {"stream": "all", "missed_from": "42"}


def _recording(job_id: str, batch: str, principal: str, state: str) -> dict[Any, Any]:
    """A recording-state entry as ``keys.RECORDING_STATES`` documents it (test data)."""
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
    state.xtrim(keys.RECORDING_STATES, minid=kept, approximate=False)
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


CSRF = {"X-Confrec-CSRF": "1"}


def sign_in(stack: Stack, **request: object) -> tuple[httpx.Response, httpx.Client]:
    """POST /v1/session; the cookie it sets goes into a client of its own."""
    answer = httpx.post(f"{stack.api.root}/v1/session", timeout=10, **request)  # type: ignore[arg-type]
    browser = httpx.Client(base_url=stack.api.root, timeout=10)
    if answer.status_code == 204:
        browser.cookies.set("confrec_session", answer.cookies["confrec_session"])
    return answer, browser


def test_a_session_cookie_works_wherever_the_token_does(stack: Stack) -> None:
    answer, browser = sign_in(stack, headers={"Authorization": f"Bearer {TOKEN_A}"})
    assert answer.status_code == 204, answer.text
    cookie = answer.headers["set-cookie"]
    for part in ("confrec_session=", "HttpOnly", "SameSite=strict", "Path=/", "Max-Age="):
        assert part in cookie
    assert "Secure" not in cookie
    session = answer.cookies["confrec_session"]
    stored = stack.system.state.hgetall(keys.session(digest(session)))
    assert stored == {"principal": stored["principal"], "token": digest(TOKEN_A)}
    assert 0 < stack.system.state.ttl(keys.session(digest(session))) <= 8 * 3600

    job = {**GOOD, "conference_id": unique_id()}
    with browser:
        refused = browser.post("/v1/jobs", json=job)  # what a page of another site could send
        assert refused.status_code == 403 and "x-confrec-csrf" in refused.text
        accepted = browser.post("/v1/jobs", json=job, headers=CSRF)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        assert stack.api.status(job_id)["job_id"] == job_id  # the token's job: one principal
        assert browser.get(f"/v1/jobs/{job_id}").status_code == 200
        with open_events(browser, f"{stack.api.root}/v1/events", {}) as stream:
            stream.until(ready, 5, "the cookie's event stream")

        assert browser.delete("/v1/session").status_code == 403  # signing out needs it too
        out = browser.delete("/v1/session", headers=CSRF)
        assert out.status_code == 204 and 'confrec_session=""' in out.headers["set-cookie"]
        assert not stack.system.state.exists(keys.session(digest(session)))
        browser.cookies.set("confrec_session", session)  # kept by a client: no longer works
        assert browser.get(f"/v1/jobs/{job_id}").status_code == 401
        browser.cookies.set("confrec_session", "forged-" + session)
        assert browser.get(f"/v1/jobs/{job_id}").status_code == 401

    behind_tls, _ = sign_in(
        stack, headers={"Authorization": f"Bearer {TOKEN_A}", "X-Forwarded-Proto": "https"}
    )
    assert "Secure" in behind_tls.headers["set-cookie"]


def test_a_token_in_a_json_body_signs_in_and_its_removal_ends_the_session(
    stack: Stack, tokens_file: Path
) -> None:
    for body, headers, status in (
        (b'{"token": "' + CAROL.encode() + b'"}', {"Content-Type": "text/plain"}, 415),
        (b'{"token": "wrong"}', {"Content-Type": "application/json"}, 401),
        (b"", {}, 401),
    ):
        assert sign_in(stack, content=body, headers=headers)[0].status_code == status
    answer, browser = sign_in(stack, json={"token": CAROL})
    assert answer.status_code == 204, answer.text
    with browser, open_events(browser, f"{stack.api.root}/v1/events", {}) as stream:
        stream.until(ready, 5, "carol's stream")
        assert browser.get("/v1/jobs/x").status_code == 404  # signed in: an unknown job
        tokens_file.write_text(f"# carol left\ndave:{uuid.uuid4().hex}\n")
        poll(lambda: browser.get("/v1/jobs/x").status_code, lambda s: s == 401, 10, "ended")
        assert stream.ended(10), "the open stream ends at its next check"
