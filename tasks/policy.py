"""The decisions: which answers succeed, which are worth retrying, how long to wait, and
how often a delivery that raised may come back.

Pure functions and a tenacity loop with injectable sleep, so they are tested without a
network, a broker or a real clock.
"""

from __future__ import annotations

import email.utils
import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_result,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

TRANSIENT_4XX = frozenset({408, 429})


class Verdict(enum.Enum):
    SUCCEEDED = "succeeded"
    TRANSIENT = "transient"
    TERMINAL = "terminal"


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt came to, in the terms the retry loop and outcome need."""

    verdict: Verdict
    http_status: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    retry_after: float | None = None
    detail: str | None = None
    answered_at: float | None = None
    """Our clock when a 2xx arrived: the end of the job's start window."""
    clock_offset: float = 0.0
    """Telnyx's clock minus ours, from a 2xx's ``Date`` header (0 without one)."""


def classify_response(response: httpx.Response) -> AttemptResult:
    """2xx succeeded; 5xx, 408 and 429 transient; every other status terminal."""
    status = response.status_code
    if 200 <= status < 300:
        now = time.time()
        offset = clock_offset(response.headers.get("date"), now)
        return AttemptResult(Verdict.SUCCEEDED, status, answered_at=now, clock_offset=offset)
    errors = telnyx_errors(response)
    if status >= 500 or status in TRANSIENT_4XX:
        retry_after = parse_retry_after(response.headers)
        return AttemptResult(Verdict.TRANSIENT, status, errors, retry_after)
    return AttemptResult(Verdict.TERMINAL, status, errors)


def clock_offset(date: str | None, now: float) -> float:
    """Telnyx's clock minus ours. ``Date`` has whole seconds, so the moment it names is
    taken as the middle of its second; the skew bound covers the rest."""
    if not date:
        return 0.0
    try:
        sent = email.utils.parsedate_to_datetime(date).timestamp() + 0.5
    except (TypeError, ValueError):
        return 0.0
    return sent - now


def classify_exception(exc: httpx.HTTPError) -> AttemptResult:
    """No answer (timeout, reset, refused): worth another try. Only the type is kept,
    so nothing the exception carries can leak into an outcome."""
    return AttemptResult(Verdict.TRANSIENT, detail=type(exc).__name__)


def telnyx_errors(response: httpx.Response) -> list[dict[str, Any]]:
    """Telnyx's ``errors`` array (code, title, detail, source); [] if the body has none."""
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    cleaned: list[dict[str, Any]] = []
    for err in errors:
        if not isinstance(err, dict):
            continue
        entry: dict[str, Any] = {
            "code": str(err.get("code", "")),
            "title": str(err.get("title", "")),
        }
        if "detail" in err:
            entry["detail"] = str(err["detail"])
        if isinstance(err.get("source"), dict):
            entry["source"] = err["source"]
        cleaned.append(entry)
    return cleaned


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True)
class FaultPolicy:
    """Bounds for a delivery that raised (see ``confrec.tasks.redelivery``): how often a
    job may raise before it fails, and how long each redelivery waits."""

    max_faulty_deliveries: int = 5
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 4.0

    def backoff(self, fault_number: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_initial_s * 2 ** (fault_number - 1)))


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop: attempts, a total deadline, and the backoff curve."""

    max_attempts: int = 8
    deadline_s: float = 25.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0


class wait_retry_after_or(wait_base):
    """Wait what the server asked for (Retry-After) when it asked; else the fallback."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        result = outcome.result() if outcome is not None and not outcome.failed else None
        if isinstance(result, AttemptResult) and result.retry_after is not None:
            return result.retry_after
        return float(self.fallback(retry_state))


def run_with_retries(
    attempt: Callable[[], AttemptResult],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[AttemptResult, int]:
    """Call ``attempt`` until it is not transient or a bound is reached.

    Returns the last result and the number of attempts made. The deadline is checked
    before each wait (``stop_before_delay``), so no attempt starts after it.
    """
    retrying = Retrying(
        stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.deadline_s),
        wait=wait_retry_after_or(
            wait_exponential_jitter(
                multiplier=policy.backoff_initial_s,
                max=policy.backoff_max_s,
                jitter=policy.backoff_initial_s,
            )
        ),
        retry=retry_if_result(lambda r: r.verdict is Verdict.TRANSIENT),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        sleep=sleep,
    )
    attempts = 0

    def counted() -> AttemptResult:
        nonlocal attempts
        attempts += 1
        return attempt()

    result: AttemptResult = retrying(counted)
    return result, attempts
