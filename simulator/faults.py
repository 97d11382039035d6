"""Fault directives encoded in a conference id.

Tests and benchmarks need failures on demand without configuring the
simulator, so the *conference id itself* says how the simulator misbehaves.
Directives are read left to right from the start of the id; the first part
that is not a directive ends parsing, and the whole id (directives included)
stays the conference id.

Terminal directives (every request to that conference):

``missing-...``
    404, code ``90058`` "Invalid conference_id".
``ended-...``
    422, code ``90019`` "Conference has already ended".

Per-request directives (N, MS are non-negative integers):

``slow-MS-...``
    every request waits MS extra milliseconds before being answered.
``flaky-N-...``
    the first N requests answer 503 (code ``10001``).
``ratelimited-N-...``
    the first N requests answer 429 (code ``10011``) with ``Retry-After: 1``
    and ``x-ratelimit-*`` headers.
``timeout408-N-...``
    the first N requests answer 408.
``drop-N-...``
    the first N requests get no HTTP response: the connection is closed without a
    byte written, so the client sees a transport error (httpx: ``RemoteProtocolError``
    "Server disconnected without sending a response"), never a status it could read.
``undecodable-N-...``
    the first N requests are served (a recording starts) but answered 200 with a body
    that cannot be decoded (``Content-Encoding: gzip`` over bytes that are not gzip).

Webhook directives (only with a webhook URL, and only for a request that started a new
recording; see :mod:`confrec.simulator.webhooks`):

``dupsaved-...``
    the ``conference.recording.saved`` webhook is delivered twice: two POSTs with the same
    ``data`` (same ``data.id``), each signed, each retried on its own.
``latesaved-MS-...``
    the saved webhook goes out MS milliseconds later than it otherwise would, so it
    arrives after events of recordings that started after it (out of order); its
    ``occurred_at`` stays the time the recording was saved.

Telnyx-side directives (the conference's life and its recordings; a name keeps its
directives for every conference made under it):

``nosavedhook-...``
    no ``conference.recording.saved`` webhook is ever sent; the recording is still saved and
    listed by ``GET /v2/recordings``.
``unsaved-N-...``
    the first N recordings started on the conference are never saved: no webhook, never
    listed (as Telnyx losing them; there is no "failed" webhook).
``noend-...``
    the conference ends but its ``conference.ended`` webhook is never sent.
``listlate-MS-...``
    a recording shows in ``GET /v2/recordings`` only MS milliseconds after it was saved.
``endafter-S-...``
    the conference lives S seconds (instead of ``--conference-seconds``), then ends with
    reason ``time_exceeded``.

"First N requests" counts the requests that conference receives after
authentication and the global rate limit (a 401 or a global 429 does not use
up a fault).  Counted directives chain in order, so
``flaky-2-ratelimited-1-x`` answers 503, 503, 429, then 200; the webhook and Telnyx-side
directives and ``slow-`` can be combined with anything (``slow-500-flaky-1-x``,
``dupsaved-latesaved-300-flaky-1-x``).  A terminal directive wins
over everything after the counted faults are used up, e.g.
``drop-1-missing-x`` drops once and then answers 404 forever.

Anything else (``conf-123``, ``flaky-x``, ``FLAKY-1-x``) is a normal live
conference.  This module is pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Answer", "CountedFault", "FaultPlan", "parse_faults"]


class Answer(StrEnum):
    """What the simulator does with one request before normal processing."""

    NORMAL = "normal"
    FLAKY = "flaky"  # 503
    RATELIMITED = "ratelimited"  # 429
    TIMEOUT408 = "timeout408"  # 408
    DROP = "drop"  # close the connection, no response
    UNDECODABLE = "undecodable"  # served, then a 200 whose body cannot be decoded
    MISSING = "missing"  # 404
    ENDED = "ended"  # 422 90019


_COUNTED: dict[str, Answer] = {
    "flaky": Answer.FLAKY,
    "ratelimited": Answer.RATELIMITED,
    "timeout408": Answer.TIMEOUT408,
    "drop": Answer.DROP,
    "undecodable": Answer.UNDECODABLE,
}
_NUMBERED = ("slow", "latesaved", "listlate", "endafter", "unsaved")  # followed by a number
_FLAGS = ("dupsaved", "nosavedhook", "noend")
_TERMINAL: dict[str, Answer] = {
    "missing": Answer.MISSING,
    "ended": Answer.ENDED,
}
# Keep directive numbers sane so a typo cannot make the simulator sleep for days.
_MAX_NUMBER = 10_000_000


@dataclass(frozen=True, slots=True)
class CountedFault:
    """``count`` consecutive requests answered with ``answer``."""

    answer: Answer
    count: int


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Everything the conference id asks for, resolved once per id."""

    slow_ms: float = 0.0
    script: tuple[CountedFault, ...] = ()
    terminal: Answer | None = None
    dup_saved: bool = False  # deliver the saved webhook twice
    late_saved_ms: float = 0.0  # delay the saved webhook by this much more
    no_saved_hook: bool = False  # never send the saved webhook
    unsaved: int = 0  # the first this many recordings are never saved
    no_end_hook: bool = False  # never send conference.ended
    list_late_ms: float = 0.0  # listed this long after being saved
    end_after_s: float | None = None  # the conference's lifetime, instead of the default

    def answer_for(self, attempt: int) -> Answer:
        """Answer for the ``attempt``-th (1-based) counted request.

        Counted faults are consumed in order; once they are used up the
        terminal directive (if any) applies, else the request is normal.
        """
        remaining = attempt
        for fault in self.script:
            if remaining <= fault.count:
                return fault.answer
            remaining -= fault.count
        return self.terminal or Answer.NORMAL


NO_FAULTS = FaultPlan()


def _parse_number(token: str) -> int | None:
    if not token.isascii() or not token.isdigit():
        return None
    value = int(token)
    return value if value <= _MAX_NUMBER else None


def parse_faults(conference_id: str) -> FaultPlan:
    """Parse the directive prefix of ``conference_id`` into a :class:`FaultPlan`."""
    parts = conference_id.split("-")
    numbers: dict[str, float] = {}
    flags: set[str] = set()
    script: list[CountedFault] = []
    terminal: Answer | None = None
    i = 0
    # The last part is never a directive keyword: "missing" alone is an id.
    while i < len(parts) - 1:
        word = parts[i]
        if word in _TERMINAL:
            terminal = _TERMINAL[word]
            break
        if word in _FLAGS:
            flags.add(word)
            i += 1
            continue
        if word not in _NUMBERED and word not in _COUNTED:
            break
        if i + 2 >= len(parts):
            break  # "flaky-3" has no id part after the number: not a directive
        number = _parse_number(parts[i + 1])
        if number is None:
            break
        if word in _NUMBERED:
            numbers[word] = numbers.get(word, 0.0) + number
        elif number:
            script.append(CountedFault(_COUNTED[word], number))
        i += 2
    plan = FaultPlan(
        slow_ms=numbers.get("slow", 0.0),
        script=tuple(script),
        terminal=terminal,
        dup_saved="dupsaved" in flags,
        late_saved_ms=numbers.get("latesaved", 0.0),
        no_saved_hook="nosavedhook" in flags,
        unsaved=int(numbers.get("unsaved", 0)),
        no_end_hook="noend" in flags,
        list_late_ms=numbers.get("listlate", 0.0),
        end_after_s=numbers.get("endafter"),
    )
    return NO_FAULTS if plan == NO_FAULTS else plan
