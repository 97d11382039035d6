"""Classification, Retry-After parsing and the retry loop (tasks/policy.py), on a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import tenacity

from confrec.tasks.policy import (
    AttemptResult,
    RetryPolicy,
    Verdict,
    classify_exception,
    classify_response,
    parse_retry_after,
    run_with_retries,
)

TELNYX_ERROR_BODY = {
    "errors": [
        {
            "code": 90058,
            "title": "Invalid conference_id",
            "detail": "The conference does not exist.",
            "source": {"pointer": "/conference_id"},
        },
        {"code": "10007", "title": "Resource not found"},
        "not an object",
    ]
}

# --- classify_response ------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204])
def test_2xx_succeeds(status: int) -> None:
    result = classify_response(httpx.Response(status))
    assert result.verdict is Verdict.SUCCEEDED
    assert result.http_status == status
    assert result.errors == []


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(s, Verdict.TRANSIENT) for s in (500, 502, 503, 504, 408, 429)]
    + [(s, Verdict.TERMINAL) for s in (400, 401, 403, 404, 409, 422)],
)
def test_error_statuses_classified_with_telnyx_errors(status: int, verdict: Verdict) -> None:
    result = classify_response(httpx.Response(status, json=TELNYX_ERROR_BODY))
    assert result.verdict is verdict
    assert result.http_status == status
    first, second = result.errors
    assert first["code"] == "90058"
    assert first["title"] == "Invalid conference_id"
    assert first["detail"] == "The conference does not exist."
    assert first["source"] == {"pointer": "/conference_id"}
    assert second["code"] == "10007"
    assert "detail" not in second


@pytest.mark.parametrize(
    "content",
    [b"<html>Bad Gateway</html>", b"", b"\xff\xfe", b"[1, 2]", b'{"errors": "nope"}'],
)
@pytest.mark.parametrize("status", [422, 502])
def test_body_without_errors_array_gives_no_errors(status: int, content: bytes) -> None:
    result = classify_response(httpx.Response(status, content=content))
    assert result.errors == []
    assert result.verdict is not Verdict.SUCCEEDED


@pytest.mark.parametrize("status", [429, 503])
def test_transient_keeps_retry_after(status: int) -> None:
    response = httpx.Response(status, headers={"Retry-After": "7"})
    assert classify_response(response).retry_after == 7.0


def test_transient_with_non_ascii_digit_retry_after_does_not_crash() -> None:
    # "\u00b3" (superscript three) passes str.isdigit() but float() rejects it.
    response = httpx.Response(503, headers=[(b"Retry-After", "\u00b3".encode())])
    result = classify_response(response)
    assert result.verdict is Verdict.TRANSIENT
    assert result.retry_after is None


# --- classify_exception -----------------------------------------------------------------


@pytest.mark.parametrize(
    "exc_type",
    [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ConnectError],
)
def test_transport_errors_are_transient_and_keep_only_the_type(
    exc_type: type[httpx.TransportError],
) -> None:
    message = "failed for Bearer KEYsecret at https://user:pw@host/conferences/x"
    result = classify_exception(exc_type(message))
    assert result.verdict is Verdict.TRANSIENT
    assert result.detail == exc_type.__name__
    assert result.http_status is None
    assert "KEYsecret" not in repr(result)


# --- parse_retry_after ------------------------------------------------------------------

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:07 GMT", 7.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("-1", None),
        ("1.5", None),
        ("", None),
        ("Wed, 99 Foo 2015", None),
        ("\u00b3", None),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    headers = httpx.Headers([(b"Retry-After", value.encode())])
    assert parse_retry_after(headers, now=NOW) == expected


def test_parse_retry_after_missing() -> None:
    assert parse_retry_after(httpx.Headers(), now=NOW) is None


# --- run_with_retries on a fake clock ---------------------------------------------------


class FakeClock:
    """Stands in for tenacity's ``time`` module; ``sleep`` advances it and records waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(tenacity, "time", fake)
    return fake


def transient(retry_after: float | None = None) -> AttemptResult:
    return AttemptResult(Verdict.TRANSIENT, 503, retry_after=retry_after)


OK = AttemptResult(Verdict.SUCCEEDED, 200)
REJECTED = AttemptResult(Verdict.TERMINAL, 422)


def scripted(
    clock: FakeClock, results: Iterator[AttemptResult], duration: float = 0.0
) -> tuple[Callable[[], AttemptResult], list[float]]:
    """An attempt function that returns ``results`` in turn and records when each started."""
    t0 = clock.now
    starts: list[float] = []

    def attempt() -> AttemptResult:
        starts.append(clock.now - t0)
        clock.now += duration
        return next(results)

    return attempt, starts


def test_success_first_try(clock: FakeClock) -> None:
    attempt, _ = scripted(clock, iter([OK]))
    assert run_with_retries(attempt, RetryPolicy(), sleep=clock.sleep) == (OK, 1)
    assert clock.waits == []


def test_terminal_stops_after_one_attempt(clock: FakeClock) -> None:
    attempt, _ = scripted(clock, iter([REJECTED, OK]))
    assert run_with_retries(attempt, RetryPolicy(), sleep=clock.sleep) == (REJECTED, 1)
    assert clock.waits == []


def test_transient_twice_then_success_with_growing_waits(clock: FakeClock) -> None:
    policy = RetryPolicy(backoff_initial_s=0.5, backoff_max_s=8.0)
    attempt, _ = scripted(clock, iter([transient(), transient(), OK]))
    assert run_with_retries(attempt, policy, sleep=clock.sleep) == (OK, 3)
    first, second = clock.waits
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 1.5
    assert second >= first


def test_backoff_is_exponential_with_jitter_and_capped(clock: FakeClock) -> None:
    policy = RetryPolicy(
        max_attempts=8, deadline_s=1000.0, backoff_initial_s=0.5, backoff_max_s=3.0
    )
    results = [transient() for _ in range(8)]
    attempt, _ = scripted(clock, iter(results))
    result, attempts = run_with_retries(attempt, policy, sleep=clock.sleep)
    assert attempts == 8
    assert result is results[-1]
    assert len(clock.waits) == 7
    for n, wait in enumerate(clock.waits):
        low = min(0.5 * 2**n, 3.0)
        high = min(0.5 * 2**n + 0.5, 3.0)
        assert low <= wait <= high, (n, wait)


def test_retry_after_is_the_wait(clock: FakeClock) -> None:
    attempt, starts = scripted(clock, iter([transient(retry_after=7.0), OK]))
    assert run_with_retries(attempt, RetryPolicy(), sleep=clock.sleep) == (OK, 2)
    assert clock.waits == [7.0]
    assert starts == [0.0, 7.0]


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
def test_max_attempts_returns_last_transient(clock: FakeClock, max_attempts: int) -> None:
    policy = RetryPolicy(max_attempts=max_attempts, deadline_s=1000.0)
    results = [transient() for _ in range(10)]
    attempt, _ = scripted(clock, iter(results))
    result, attempts = run_with_retries(attempt, policy, sleep=clock.sleep)
    assert attempts == max_attempts
    assert result is results[max_attempts - 1]
    assert len(clock.waits) == max_attempts - 1


@pytest.mark.parametrize(
    ("duration", "expected_starts"),
    [(0.0, [0.0, 4.0, 8.0]), (1.0, [0.0, 5.0]), (0.5, [0.0, 4.5, 9.0])],
)
def test_no_attempt_starts_at_or_after_deadline(
    clock: FakeClock, duration: float, expected_starts: list[float]
) -> None:
    policy = RetryPolicy(max_attempts=100, deadline_s=10.0)
    results = [transient(retry_after=4.0) for _ in range(100)]
    attempt, starts = scripted(clock, iter(results), duration)
    result, attempts = run_with_retries(attempt, policy, sleep=clock.sleep)
    assert starts == expected_starts
    assert all(start < 10.0 for start in starts)
    assert attempts == len(starts)
    assert result is results[attempts - 1]
    assert clock.waits == [4.0] * (attempts - 1)


def test_exponential_waits_respect_deadline(clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=100, deadline_s=10.0, backoff_initial_s=2.0)
    attempt, starts = scripted(clock, iter([transient() for _ in range(100)]), 0.25)
    _, attempts = run_with_retries(attempt, policy, sleep=clock.sleep)
    assert 2 <= attempts < 100
    assert all(start < 10.0 for start in starts)


def test_retry_after_beyond_deadline_stops_without_sleeping(clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=8, deadline_s=10.0)
    first = transient(retry_after=30.0)
    attempt, _ = scripted(clock, iter([first, OK]))
    assert run_with_retries(attempt, policy, sleep=clock.sleep) == (first, 1)
    assert clock.waits == []


def test_retry_after_beyond_remaining_deadline_stops(clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=8, deadline_s=10.0)
    second = transient(retry_after=6.0)
    attempt, starts = scripted(clock, iter([transient(retry_after=5.0), second, OK]))
    assert run_with_retries(attempt, policy, sleep=clock.sleep) == (second, 2)
    assert starts == [0.0, 5.0]
    assert clock.waits == [5.0]
