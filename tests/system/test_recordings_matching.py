"""Each recording lands on the job whose request started it: real redis, serve (verifying
the webhooks), workers and ``confrec simulate`` sending its signed
``conference.recording.saved`` to serve. Two jobs on one conference — two producers, a
second recording started later, Telnyx's clock 30 s ahead or behind ours — each get their
own; one recording that either of two jobs could own is marked ambiguous on both.

The truth each test checks against is the simulator's: the recordings it started on the
conference, in the order it started them (``GET /_sim/conferences``). A re-send with the
same batch key and ``bulk --until-saved``: test_recordings_until_saved.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from confrec.tasks.store import keys
from confrec.tasks.store.schedule import conference_member
from confrec.worker.local.processes import ManagedProcess, start_redis, wait_until
from tests.support.recordings import Way, others, owned, past_its_second, webhook_way
from tests.support.system import unique, unique_id


@pytest.fixture(scope="module")
def way(redis_proc: ManagedProcess, workdir: Path) -> Iterator[Way]:
    """Telnyx's clock is ours; recordings start the moment a request arrives."""
    with webhook_way(workdir, redis_proc.extra["url"]) as running:
        yield running


def cli_enqueue(way: Way, conference_id: str) -> str:
    """``confrec enqueue``: another producer than serve, with a command_id of its own."""
    result = way.stack.system.cli("enqueue", conference_id, "--format", "wav", "--json")
    assert result.returncode == 0, result.stderr
    job_id: str = json.loads(result.stdout)["job_id"]
    return job_id


def assert_each_owns_its_own(way: Way, conference_id: str, job_ids: list[str]) -> None:
    """The jobs, in the order they were sent, own the conference's recordings in the
    order the simulator started them: one each, and nothing else shown."""
    docs = [way.settled(job_id, want="saved") for job_id in job_ids]
    recordings = way.recording_ids(conference_id)
    assert len(recordings) == len(job_ids)
    starts = [r["recording_started_at"] for r in way.conference(conference_id)["recordings"]]
    windows = [way.window(job_id) for job_id in job_ids]
    for job_id, doc, recording_id in zip(job_ids, docs, recordings, strict=True):
        shown = (doc["recording_state"], owned(doc), others(doc))
        assert shown == ("saved", [recording_id], []), f"{job_id}: {windows} {starts}"
        assert doc["recordings"][0]["source"] == "webhook"


def test_two_producers_one_after_the_other_each_get_their_recording(way: Way) -> None:
    conference = unique_id()
    first = cli_enqueue(way, conference)
    way.started(first)
    second = way.enqueue(conference)  # POST /v1/jobs: serve's producer
    way.started(second)
    assert way.status(first)["command_id"] != way.status(second)["command_id"]
    assert_each_owns_its_own(way, conference, [first, second])


def test_a_second_recording_started_later_goes_to_the_second_job(way: Way) -> None:
    """Later: once the first is saved, and in another second of Telnyx's ``Date``."""
    conference = unique_id()
    first = way.enqueue(conference)
    doc = way.settled(first, want="saved")
    (recording,) = owned(doc)
    past_its_second(doc)
    second = way.enqueue(conference)
    assert_each_owns_its_own(way, conference, [first, second])
    assert owned(way.status(first)) == [recording]  # the later one took nothing from it


def test_a_job_of_another_format_on_the_same_conference_is_told_apart_by_it(way: Way) -> None:
    conference = unique_id()
    wav = way.enqueue(conference, "wav")
    mp3 = way.enqueue(conference, "mp3")  # at the same time, windows overlapping
    docs = {job_id: way.settled(job_id, want="saved") for job_id in (wav, mp3)}
    by_format = {r["format"]: r["id"] for r in way.conference(conference)["recordings"]}
    assert owned(docs[wav]) == [by_format["wav"]]
    assert owned(docs[mp3]) == [by_format["mp3"]]


@pytest.mark.parametrize("skew_s", [30, -30])
def test_telnyx_clock_ahead_or_behind_ours_still_matches(
    redis_proc: ManagedProcess, workdir: Path, skew_s: int
) -> None:
    """Telnyx stamps ``recording_started_at`` on its clock, 30 s off ours, half a second
    after the request arrived: the default 3 s skew bound alone would miss it. (The jobs
    are a second apart, as in the test above: back to back is the producers' test.)"""
    skewed = ("--clock-skew-s", str(skew_s), "--start-lag-ms", "500")
    with webhook_way(workdir, redis_proc.extra["url"], *skewed) as running:
        conference = unique_id()
        first = running.enqueue(conference)
        doc = running.started(first)
        answered = datetime.fromisoformat(doc["outcome"]["finished_at"])
        past_its_second(doc)
        second = running.enqueue(conference)
        running.started(second)
        assert_each_owns_its_own(running, conference, [first, second])
        started = running.settled(first)["recordings"][0]["recording_started_at"]
        off = datetime.fromisoformat(started.replace("Z", "+00:00")) - answered
        assert abs(off.total_seconds() - skew_s) < 2, (started, answered)


@pytest.fixture
def ending_way(tmp_path: Path) -> Iterator[Way]:
    """Conferences that end 6 s after they begin, and a 2 s grace after the end; on a
    Redis of its own, as every fleet with its own settings has (the other fixture's
    workers would work this one's schedule with their grace)."""
    redis = start_redis(tmp_path / "redis")
    try:
        with webhook_way(
            tmp_path,
            redis.extra["url"],
            "--conference-seconds",
            "6",
            CONFREC_RECORDING_GRACE_S="2",
            CONFREC_RECONCILE_POLL_S="1",
        ) as way:
            yield way
    finally:
        redis.stop()


def test_one_recording_two_jobs_could_own_is_ambiguous_on_both(ending_way: Way) -> None:
    """Two jobs sent at once on a conference (by name) whose first recording Telnyx never
    saves: one recording, in both start windows — nothing tells whose it is. Said once
    the conference ended and the grace passed (until then: pending)."""
    way = ending_way
    conference = unique("unsaved-1-")
    jobs = [way.enqueue(conference) for _ in range(2)]
    for job_id in jobs:
        way.started(job_id)
    pending = way.status(jobs[0])
    assert pending["recording_state"] == "pending", pending
    docs = [way.settled(job_id, timeout=60, want="ambiguous") for job_id in jobs]
    (saved,) = way.recording_ids(conference)
    assert len(way.conference(conference)["recordings"]) == 2  # the other was never saved
    for doc in docs:
        assert (doc["recording_state"], doc["recordings"]) == ("ambiguous", []), doc
        assert others(doc) == [(saved, "ambiguous")]
        assert doc["recording_reason"]


def test_a_job_of_another_conference_takes_nothing(way: Way) -> None:
    """Jobs at the same moment on two conferences: each only ever sees its own."""
    a, b = unique_id(), unique_id()
    jobs = {a: way.enqueue(a), b: way.enqueue(b)}
    for conference, job_id in jobs.items():
        doc = way.settled(job_id, want="saved")
        assert owned(doc) == way.recording_ids(conference), doc
        assert doc["recordings"][0]["conference_id"] == conference
    assert uuid.UUID(a) != uuid.UUID(b)


def test_a_conference_whose_jobs_all_have_their_recording_costs_no_list(
    ending_way: Way,
) -> None:
    """Its webhook came: once the conference ended, reconciliation takes it off the
    schedule without asking Telnyx for its recordings (the common case costs nothing)."""
    way = ending_way
    conference = unique_id()
    job_id = way.enqueue(conference)
    assert owned(way.settled(job_id, want="saved")) == way.recording_ids(conference)
    httpx.post(f"{way.sim_root}/_sim/conferences/{conference}/end", timeout=5).raise_for_status()
    schedule = way.stack.system.state
    member = conference_member(conference)
    wait_until(
        lambda: schedule.zscore(keys.RECONCILE_DUE, member) is None,
        30,
        "the ended conference off the schedule",
    )
    calls = httpx.get(f"{way.sim_root}/_sim/calls", timeout=5).json()
    assert [c for c in calls if c["path"].startswith("/v2/recordings")] == []
