"""The reconciler's pure decisions (tasks/reconcile_rules.py) and ``confrec reconcile
--since`` parsing."""

from __future__ import annotations

import pytest

from confrec.tasks import reconcile_rules as rules
from confrec.tasks.matching import JobWindow
from confrec.worker.cli.reconcile import parse_since

T0 = 1_796_000_000.0  # 2026-11-30


def test_polls_double_from_the_first_look_to_fifteen_minutes() -> None:
    waits, now = [], T0 + 60
    for _ in range(8):
        wait = rules.poll_delay(now, T0, 60)
        waits.append(wait)
        now += wait
    assert waits == [60, 120, 240, 480, 900, 900, 900, 900]
    assert rules.poll_delay(T0, None, 60) == 60


def test_past_lifetime_is_four_hours_and_the_grace() -> None:
    assert not rules.past_lifetime(T0 + 4 * 3600 + 899, T0, 900)
    assert rules.past_lifetime(T0 + 4 * 3600 + 900, T0, 900)
    assert not rules.past_lifetime(T0 + 10**6, None, 900)


def test_error_backoff_grows_is_bounded_and_honours_retry_after() -> None:
    assert 12 <= rules.error_delay(1) <= 15
    assert 24 <= rules.error_delay(2) <= 30
    assert rules.error_delay(30) <= 900
    assert rules.error_delay(1, retry_after=120) == 120


def test_a_name_is_asked_again_for_ten_minutes_then_given_up() -> None:
    assert rules.name_retry_delay(0) == 1
    assert rules.name_retry_delay(90) == 90
    assert rules.name_retry_delay(599) == 120
    assert rules.name_retry_delay(600) is None


@pytest.mark.parametrize(
    ("conference", "over"),
    [
        ({"status": "completed"}, True),
        ({"status": "in_progress", "expires_at": "2026-11-30T00:00:00Z"}, True),
        ({"status": "in_progress", "expires_at": "2030-01-01T00:00:00Z"}, False),
        ({"status": "init"}, False),
    ],
)
def test_conference_over(conference: dict[str, str], over: bool) -> None:
    assert rules.conference_over(conference, T0) is over


def _conf(cid: str, status: str, created: float, updated: float | None = None) -> dict[str, str]:
    doc = {"id": cid, "name": "Room", "status": status, "created_at": rules.iso(created)}
    if updated is not None:
        doc["updated_at"] = rules.iso(updated)
    doc["expires_at"] = rules.iso(created + 4 * 3600)
    return doc


def test_the_conference_whose_lifetime_meets_the_window_is_chosen() -> None:
    window = JobWindow("j", T0 + 1000, T0 + 1002)
    earlier = _conf("old", "completed", T0, updated=T0 + 900)  # ended before the job
    current = _conf("cur", "in_progress", T0 + 950)
    later = _conf("new", "in_progress", T0 + 2000)  # began after it
    assert rules.conferences_for([earlier, current, later], window, T0 + 3000) == ["cur"]
    # an ended one that was running then is found too
    ended = _conf("cur", "completed", T0 + 950, updated=T0 + 1500)
    assert rules.conferences_for([earlier, ended, later], window, T0 + 3000) == ["cur"]
    # two running then: both (the caller says name_ambiguous)
    both = _conf("b", "in_progress", T0 + 10)
    assert rules.conferences_for([current, both], window, T0 + 3000) == ["cur", "b"]
    assert rules.conferences_for([{"name": "no id"}], window, T0) == []


def test_the_list_window_spans_the_jobs_and_a_conference_lifetime() -> None:
    jobs = [JobWindow("a", T0, T0 + 1), JobWindow("b", T0 + 60, T0 + 61)]
    gte, lte = rules.list_window(jobs, None, T0 + 100)
    assert gte == rules.iso(T0 - 3600)
    assert lte == rules.iso(T0 + 61 + 4 * 3600 + 3600)
    assert rules.list_window([], None, T0) == (None, None)


def test_timestamps_and_iso_round_trip() -> None:
    assert rules.timestamp(rules.iso(T0)) == T0
    assert rules.timestamp("2026-11-30T00:00:00.5+00:00") is not None
    assert rules.timestamp("yesterday") is None
    assert rules.timestamp(None) is None


def test_since_takes_unix_seconds_or_iso() -> None:
    assert parse_since("1796000000") == T0
    assert parse_since("2026-11-30T00:53:20Z") == T0
    assert parse_since("2026-11-30T00:53:20") == T0  # no zone: UTC
    with pytest.raises(ValueError, match="--since"):
        parse_since("last tuesday")


def test_since_is_a_time_from_1970_to_a_day_ahead() -> None:
    for bad in ("inf", "-inf", "nan", "-5", "1e30", str(T0 + 86401), "1969-12-31T00:00:00Z"):
        with pytest.raises(ValueError, match="--since"):
            parse_since(bad, now=T0)
    assert parse_since("0", now=T0) == 0
    assert parse_since(str(T0 + 3600), now=T0) == T0 + 3600


def test_failures_are_counted_per_member_and_bounded() -> None:
    failures = rules.Failures(cap=3)
    assert [failures.add("a", T0), failures.add("a", T0 + 1)] == [1, 2]
    for n, member in enumerate("bcd"):
        failures.add(member, T0 + 2 + n)
    assert len(failures) == 3  # "a", the least recently failed, forgotten
    assert failures.add("a", T0 + 10) == 1
    failures.clear("a")
    assert len(failures) == 2
    # A member another reconciler finished is never seen failing here again: forgotten.
    failures.add("e", T0 + 10 + 2 * rules.ERROR_BACKOFF_S[1] + 1)
    assert len(failures) == 1
