"""The reconciler's decisions that need no I/O: when to look again, which conferences a
name may mean, what window of recordings to list. Pure, so they are tested as such."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from confrec.tasks.matching import JobWindow, assign
from confrec.tasks.recording import Recording

#: Telnyx ends every conference 4 hours after it began at the latest.
MAX_LIFETIME_S = 4 * 3600.0
#: The longest wait between two looks at a conference still in progress.
MAX_POLL_S = 900.0
#: A name Telnyx does not list yet is asked again for this long after the job's start.
NAME_RETRY_FOR_S = 600.0
#: Backoff after an error (Telnyx, transport): first wait, longest wait.
ERROR_BACKOFF_S = (15.0, 900.0)
#: Slack around the created-at window of a list: clocks, Telnyx's processing.
LIST_MARGIN_S = 3600.0
#: Members whose errors in a row one reconciler remembers, at most.
FAILURES_KEPT = 1000


class Failures:
    """Errors in a row per schedule member, for the backoff. Bounded: a member not seen
    failing here for longer than the longest backoff was finished (or is retried) by
    another reconciler, and past ``cap`` members the oldest are forgotten."""

    def __init__(self, cap: int = FAILURES_KEPT) -> None:
        self.cap = cap
        self._seen: dict[str, tuple[int, float]] = {}  # member → (errors, last at)

    def add(self, member: str, now: float) -> int:
        """One more error of ``member`` at ``now``; its errors in a row."""
        count = self._seen.pop(member, (0, now))[0] + 1
        stale = now - 2 * ERROR_BACKOFF_S[1]
        self._seen = {m: v for m, v in self._seen.items() if v[1] >= stale}
        while len(self._seen) >= self.cap:
            del self._seen[next(iter(self._seen))]  # the least recently failed
        self._seen[member] = (count, now)
        return count

    def clear(self, member: str) -> None:
        self._seen.pop(member, None)

    def __len__(self) -> int:
        return len(self._seen)


def poll_delay(now: float, first_start: float | None, poll_s: float) -> float:
    """Wait before the next look at a conference still in progress: as long as it has
    run so far, within [poll_s, 15 min] — so the looks double, as their number grows
    only with the log of the conference's length, and no count is stored."""
    elapsed = 0.0 if first_start is None else now - first_start
    return float(min(MAX_POLL_S, max(poll_s, elapsed)))


def past_lifetime(now: float, first_start: float | None, grace_s: float) -> bool:
    """Past the longest a conference can last (plus the grace): it has ended, whatever
    was (not) reported."""
    return first_start is not None and now >= first_start + MAX_LIFETIME_S + grace_s


def error_delay(failures: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter after ``failures`` errors in a row; at least what
    a Retry-After asked."""
    first, longest = ERROR_BACKOFF_S
    delay: float = min(longest, first * 2.0 ** max(0, failures - 1))
    delay *= random.uniform(0.8, 1.0)
    return max(delay, retry_after or 0.0)


def name_retry_delay(age_s: float) -> float | None:
    """Wait before asking again for a name Telnyx did not list; None once it has been
    asked long enough (then it is ``name_not_found``). As old as the job's answer, so
    the first asks come soon (a conference just begun may not be listed yet) and later
    ones space out."""
    if age_s >= NAME_RETRY_FOR_S:
        return None
    return min(120.0, max(1.0, age_s))


def timestamp(text: object) -> float | None:
    """An ISO-8601 time as Telnyx writes it, as Unix seconds; None when absent or bad."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def iso(ts: float) -> str:
    """Unix seconds as the ISO-8601 UTC time Telnyx's filters take."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def conference_over(conference: dict[str, Any], telnyx_now: float) -> bool:
    """Whether ``GET /conferences/{id}`` says it is no longer in progress: completed, or
    past its ``expires_at``."""
    if conference.get("status") == "completed":
        return True
    expires = timestamp(conference.get("expires_at"))
    return expires is not None and expires <= telnyx_now


def lifetime(conference: dict[str, Any], telnyx_now: float) -> tuple[float, float]:
    """[created_at, end] of a listed conference on Telnyx's clock. A completed one ended
    when it was last updated (else at its expiry); one in progress lasts until now, at
    least (its expiry, when given, is later)."""
    start = timestamp(conference.get("created_at"))
    if conference.get("status") == "completed":
        end = timestamp(conference.get("updated_at")) or timestamp(conference.get("expires_at"))
    else:
        end = max(telnyx_now, timestamp(conference.get("expires_at")) or telnyx_now)
    return (start if start is not None else float("-inf"), end or float("inf"))


def conferences_for(
    conferences: Iterable[dict[str, Any]], window: JobWindow, telnyx_now: float
) -> list[str]:
    """The ids of the conferences whose lifetime meets the job's start window: the ones
    its request may have started a recording on (the recording started inside the window,
    on a conference that existed then)."""
    found: list[str] = []
    for conference in conferences:
        conference_id = conference.get("id")
        if not isinstance(conference_id, str) or not conference_id:
            continue
        start, end = lifetime(conference, telnyx_now)
        if start <= window.hi and end >= window.lo and conference_id not in found:
            found.append(conference_id)
    return found


def list_window(
    jobs: Iterable[JobWindow], ended_at: float | None, now: float
) -> tuple[str | None, str | None]:
    """``filter[created_at]`` bounds for a conference's recordings: from the first job's
    window (less a margin) to the longest the conference can last after its last job's
    window (plus the margin): a recording one of its jobs started is created inside."""
    windows = list(jobs)
    if not windows:
        return None, None
    lo = min(w.lo for w in windows) - LIST_MARGIN_S
    hi = max(max(w.hi for w in windows) + MAX_LIFETIME_S, ended_at or now) + LIST_MARGIN_S
    return iso(lo), iso(hi)


def all_saved(jobs: list[JobWindow], recordings: list[Recording]) -> bool:
    """Every job on the conference owns a saved recording (its webhook came): nothing is
    left to ask Telnyx, which spares the calls in the common case."""
    matches = assign(jobs, recordings)
    return bool(jobs) and all(m.owned for m in matches.values())
