"""In-memory bookkeeping for the simulator: counters, de-duplication, stats, calls made.

``conferences`` here is per *address* (the path segment a request used: what its faults,
counters and de-dupe go by); Telnyx's conferences are :mod:`confrec.simulator.conferences`'.

Kept free of the web framework and of the clock (callers pass ``now``) so the
rules can be unit-tested directly.  No locking: uvicorn runs every handler on
one event loop thread, and every method here is synchronous, so each call is
atomic with respect to other requests.

Nothing here ever stores request headers, so the bearer token cannot leak
through the introspection endpoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from confrec.simulator.faults import FaultPlan, parse_faults

__all__ = ["DROPPED_STATUS", "ConferenceState", "RequestRecord", "SimState"]

# Status recorded for a request whose connection was closed without a response.
DROPPED_STATUS = 0


@dataclass(slots=True)
class RequestRecord:
    """One record_start request as seen by a conference (for backoff asserts)."""

    t: float
    command_id: str | None
    status: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "command_id": self.command_id, "status": self.status}


@dataclass(slots=True)
class ConferenceState:
    """Per-conference counters; ``fault_attempts`` drives the fault script."""

    plan: FaultPlan
    requests: list[RequestRecord] = field(default_factory=list)
    command_ids: dict[str, None] = field(default_factory=dict)  # ordered set
    recordings: int = 0
    fault_attempts: int = 0
    dedupe: dict[str, float] = field(default_factory=dict)  # command_id -> start time


class SimState:
    """All mutable simulator state; ``reset()`` returns it to a fresh start."""

    def __init__(self, *, dedupe_window_s: float = 60.0, limit_rps: float | None = None) -> None:
        if dedupe_window_s < 0:
            raise ValueError("dedupe_window_s must be >= 0")
        if limit_rps is not None and limit_rps <= 0:
            raise ValueError("limit_rps must be > 0 (or None for no limit)")
        self.dedupe_window_s = dedupe_window_s
        self.limit_rps = limit_rps
        # A fixed 1-second window can only admit whole requests; at least one.
        self.limit_per_window: int | None = (
            None if limit_rps is None else max(1, math.floor(limit_rps))
        )
        self.reset()

    def reset(self) -> None:
        """Forget every request, recording, counter and rate-limit window."""
        self.total_requests = 0
        self.recordings_started = 0
        self.status_counts: dict[int, int] = {}
        self.conferences: dict[str, ConferenceState] = {}
        self.calls: list[dict[str, Any]] = []  # the read calls (GET /v2/recordings, ...)
        self._second_bucket: int | None = None
        self._second_count = 0
        self.max_requests_in_any_second = 0
        self._window: int | None = None
        self._window_admitted = 0

    # -- per-request steps, called in this order by the handler ---------------

    def conference(self, conference_id: str) -> ConferenceState:
        """State for ``conference_id``, created (and its id parsed) on first use."""
        conf = self.conferences.get(conference_id)
        if conf is None:
            conf = ConferenceState(plan=parse_faults(conference_id))
            self.conferences[conference_id] = conf
        return conf

    def arrive(self, conference_id: str, command_id: str | None, now: float) -> RequestRecord:
        """Count a request (every outcome) and log it against its conference."""
        self.total_requests += 1
        bucket = int(now)
        if bucket != self._second_bucket:
            self._second_bucket = bucket
            self._second_count = 0
        self._second_count += 1
        self.max_requests_in_any_second = max(self.max_requests_in_any_second, self._second_count)

        conf = self.conference(conference_id)
        record = RequestRecord(t=now, command_id=command_id)
        conf.requests.append(record)
        if command_id is not None:
            conf.command_ids.setdefault(command_id, None)
        return record

    def take_global_slot(self, now: float) -> tuple[bool, int, float]:
        """Fixed-window global limiter keyed on ``int(now)``.

        Returns ``(allowed, remaining, reset_in_s)``; without a limit every
        request is allowed.
        """
        limit = self.limit_per_window
        window = int(now)
        reset_in = max(0.0, window + 1 - now)
        if limit is None:
            return True, 0, reset_in
        if window != self._window:
            self._window = window
            self._window_admitted = 0
        if self._window_admitted >= limit:
            return False, 0, reset_in
        self._window_admitted += 1
        return True, limit - self._window_admitted, reset_in

    def next_fault_attempt(self, conference_id: str) -> int:
        """1-based attempt number used to look up the conference's fault script."""
        conf = self.conference(conference_id)
        conf.fault_attempts += 1
        return conf.fault_attempts

    def start_recording(self, conference_id: str, command_id: str | None, now: float) -> bool:
        """Start a recording unless ``command_id`` repeats within the window.

        Returns True when a new recording started, False for a duplicate.  Only
        successful starts enter the de-dupe table, so a retry after a 503 with
        the same command_id still starts the (first) recording.
        """
        conf = self.conference(conference_id)
        if command_id is not None:
            first = conf.dedupe.get(command_id)
            if first is not None and now - first < self.dedupe_window_s:
                return False
            conf.dedupe[command_id] = now
        conf.recordings += 1
        self.recordings_started += 1
        return True

    def log_call(self, method: str, path: str, query: str, status: int, now: float) -> None:
        """One read call (not ``record_start``), for ``GET /_sim/calls``."""
        self.calls.append(
            {"t": now, "method": method, "path": path, "query": query, "status": status}
        )

    def finish(self, record: RequestRecord, status: int) -> None:
        """Record the status decided for a request (0 = connection dropped)."""
        record.status = status
        self.status_counts[status] = self.status_counts.get(status, 0) + 1

    # -- introspection --------------------------------------------------------

    def stats_json(self, *, include_conferences: bool = True) -> dict[str, Any]:
        """The ``GET /_sim/stats`` document."""
        doc: dict[str, Any] = {
            "requests": self.total_requests,
            "recordings_started": self.recordings_started,
            "status_counts": {str(k): v for k, v in sorted(self.status_counts.items())},
            "max_requests_in_any_second": self.max_requests_in_any_second,
        }
        if include_conferences:
            doc["conferences"] = {
                cid: {
                    "requests": len(conf.requests),
                    "command_ids": list(conf.command_ids),
                    "recordings": conf.recordings,
                }
                for cid, conf in self.conferences.items()
                if conf.requests
            }
        return doc

    def requests_json(self, conference_id: str) -> list[dict[str, Any]]:
        """The ``GET /_sim/requests?conference_id=...`` document."""
        conf = self.conferences.get(conference_id)
        return [] if conf is None else [r.to_json() for r in conf.requests]
