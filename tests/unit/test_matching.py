"""tasks.matching: which job started which recording, from the facts alone."""

from __future__ import annotations

import itertools
import random

import pytest

from confrec.tasks.matching import JobMatch, JobWindow, StartFacts, assign, conference_windows
from confrec.tasks.recording import Recording

T0 = 1_765_000_000.0


def rec(recording_id: str, started: float, fmt: str = "wav", channels: str = "single") -> Recording:
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(started, UTC).isoformat().replace("+00:00", "Z")
    return Recording(
        recording_id=recording_id,
        conference_id="c",
        format=fmt,
        channels=channels,
        recording_started_at=at,
        source="webhook",
    )


def job(job_id: str, lo: float, hi: float, fmt: str = "wav") -> JobWindow:
    return JobWindow(job_id, T0 + lo, T0 + hi, fmt, "single")


def owned(matches: dict[str, JobMatch], job_id: str) -> list[str]:
    return [r.recording_id for r in matches[job_id].owned]


def test_two_jobs_in_time_order_each_get_their_own_in_any_order_of_facts() -> None:
    jobs = [job("a", 0, 4), job("b", 2, 6)]
    recs = [rec("r1", T0 + 2.5), rec("r2", T0 + 3.5)]  # both in both windows
    for order in itertools.permutations(recs):
        matches = assign(reversed(jobs), order)
        assert owned(matches, "a") == ["r1"] and owned(matches, "b") == ["r2"]


def test_one_recording_two_jobs_is_ambiguous_on_both() -> None:
    matches = assign([job("a", 0, 4), job("b", 1, 5)], [rec("r1", T0 + 2)])
    for job_id in ("a", "b"):
        assert not matches[job_id].owned
        assert [r.recording_id for r in matches[job_id].ambiguous] == ["r1"]


def test_nested_windows_cannot_be_ordered() -> None:
    matches = assign([job("a", 0, 10), job("b", 2, 4)], [rec("r1", T0 + 3), rec("r2", T0 + 3.5)])
    assert not matches["a"].owned and not matches["b"].owned
    assert len(matches["a"].ambiguous) == 2


def test_recording_outside_every_window_is_not_started_by_confrec() -> None:
    matches = assign([job("a", 0, 4)], [rec("r1", T0 + 2), rec("stray", T0 + 60)])
    assert owned(matches, "a") == ["r1"]
    assert [r.recording_id for r in matches["a"].others] == ["stray"]


def test_format_must_match() -> None:
    matches = assign([job("a", 0, 4, "mp3"), job("b", 0, 4, "wav")], [rec("r1", T0 + 2, "wav")])
    assert owned(matches, "b") == ["r1"] and not matches["a"].owned and not matches["a"].ambiguous


def test_forced_pair_settles_and_leaves_the_rest() -> None:
    # r1 only fits a; once a has it, b has only r2.
    matches = assign([job("a", 0, 2), job("b", 1, 10)], [rec("r1", T0 + 0.5), rec("r2", T0 + 8)])
    assert owned(matches, "a") == ["r1"] and owned(matches, "b") == ["r2"]


def test_order_of_arrival_never_changes_the_answer() -> None:
    rng = random.Random(7)
    jobs = [job(f"j{i}", i * 3.0, i * 3.0 + 4) for i in range(6)]
    recs = [rec(f"r{i}", T0 + i * 3.0 + rng.uniform(1, 3)) for i in range(6)]
    first = {k: [r.recording_id for r in v.owned] for k, v in assign(jobs, recs).items()}
    for _ in range(20):
        rng.shuffle(jobs)
        rng.shuffle(recs)
        again = {k: [r.recording_id for r in v.owned] for k, v in assign(jobs, recs).items()}
        assert again == first


def test_jobs_answered_within_one_date_second_keep_the_order_our_clock_saw() -> None:
    # Date has whole seconds: two answers 60 ms apart see offsets 0.5 s apart; moved each
    # by its own, both windows would end at the same instant and could not be ordered.
    a = StartFacts("a", T0 + 0.00, T0 + 0.10, offset=0.45, bound=3.0)
    b = StartFacts("b", T0 + 0.06, T0 + 0.16, offset=0.39, bound=3.0)
    own = [s.window(s.offset) for s in (a, b)]
    assert own[0].hi == pytest.approx(own[1].hi)
    shared = conference_windows([a, b])
    matches = assign(shared, [rec("r1", T0 + 0.05), rec("r2", T0 + 0.12)])
    assert owned(matches, "a") == ["r1"] and owned(matches, "b") == ["r2"]
