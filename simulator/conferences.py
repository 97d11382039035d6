"""Telnyx's conferences and their recordings, as the simulator remembers them.

A ``record_start`` path addresses a conference by **id** (a UUID) or by **name** (anything
else).  An id names one conference, made on first use.  A name is looked up per region
and gets a conference of its own with a fresh UUID id, and a new one once the last
conference of that name has ended; webhooks and the list calls only ever show the id.  Each
conference is ``in_progress`` until its lifetime is over (``time_exceeded``) or it is
ended early (``all_left``), then ``completed``.

Pure bookkeeping: every time here is on *our* clock, passed in (``now``); what Telnyx's
clock shows is :mod:`confrec.simulator.times`' business.  Faults come from the address's
prefix (:mod:`confrec.simulator.faults`): ``unsaved-N-``, ``listlate-MS-``, ``endafter-S-``
here; the webhook ones where webhooks are sent.
"""

from __future__ import annotations

import heapq
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Literal

from confrec.simulator.faults import FaultPlan, parse_faults

__all__ = ["Conference", "ConferenceBook", "SimRecording", "is_uuid"]

Status = Literal["in_progress", "completed"]
EndReason = Literal["all_left", "time_exceeded"]
CONNECTION_ID = "1111111111111111111"
DEFAULT_REGION = "US"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def is_uuid(text: str) -> bool:
    """Is ``text`` a UUID (an id, not a name)?"""
    return _UUID.fullmatch(text) is not None


def call_control_id() -> str:
    return f"v3:{secrets.token_urlsafe(33)}"


@dataclass(slots=True)
class SimRecording:
    """One recording started on a conference (times on our clock)."""

    id: str
    conference: Conference
    format: str
    channels: str
    started_at: float
    ended_at: float
    saved: bool  # False: ``unsaved-N-`` lost it (no webhook, never listed)
    listed_at: float  # from then on ``GET /v2/recordings`` shows it (when saved)
    call_control_id: str = field(default_factory=call_control_id)
    call_leg_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    call_session_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def listed(self, now: float) -> bool:
        return self.saved and now >= self.listed_at


@dataclass(slots=True, eq=False)
class Conference:
    """One Telnyx conference (times on our clock)."""

    id: str
    name: str
    region: str
    address: str  # the path segment that made it: its faults
    plan: FaultPlan
    created_at: float
    expires_at: float
    status: Status = "in_progress"
    ended_at: float | None = None
    end_reason: EndReason | None = None
    recordings: list[SimRecording] = field(default_factory=list)

    @property
    def updated_at(self) -> float:
        return self.created_at if self.ended_at is None else self.ended_at


class ConferenceBook:
    """Every conference and recording; the simulator's options fix their timing."""

    def __init__(
        self,
        *,
        lifetime_s: float = 3600.0,
        recording_seconds: float = 1.0,
        start_lag_s: float = 0.0,
    ) -> None:
        if not 0 < lifetime_s < float("inf"):
            raise ValueError("conference lifetime must be a finite number of seconds > 0")
        if not 0 <= start_lag_s < float("inf"):
            raise ValueError("start lag must be a finite number >= 0")
        self.lifetime_s = lifetime_s
        self.recording_seconds = recording_seconds
        self.start_lag_s = start_lag_s
        self.reset()

    def reset(self) -> None:
        self.by_id: dict[str, Conference] = {}
        self._by_name: dict[tuple[str, str], Conference] = {}  # (region, name) -> the latest
        self.recordings: dict[str, SimRecording] = {}
        # (expires_at, seq, conference) of those in progress; ended ones are skipped lazily,
        # so every request's look at what is due costs O(log n), not a scan.
        self._expiries: list[tuple[float, int, Conference]] = []

    # -- lifecycle --------------------------------------------------------------

    def touch(self, address: str, region: str, now: float) -> Conference:
        """The conference ``address`` (an id or a name, in ``region``) means now, made if new.

        An id's conference keeps the region it was made in (the caller compares); a name
        whose conference has ended gets a new one.
        """
        if is_uuid(address):
            conf = self.by_id.get(address.lower())
            if conf is None:
                conf = self._make(
                    address.lower(), f"conference-{address[:8].lower()}", region, address, now
                )
            return conf
        conf = self._by_name.get((region, address))
        if conf is None or conf.status == "completed":
            conf = self._make(str(uuid.uuid4()), address, region, address, now)
            self._by_name[(region, address)] = conf
        return conf

    def _make(self, cid: str, name: str, region: str, address: str, now: float) -> Conference:
        plan = parse_faults(address)
        lifetime = self.lifetime_s if plan.end_after_s is None else plan.end_after_s
        conf = Conference(cid, name, region, address, plan, now, now + lifetime)
        self.by_id[cid] = conf
        heapq.heappush(self._expiries, (conf.expires_at, len(self.by_id), conf))
        return conf

    def due(self, now: float) -> list[Conference]:
        """End every conference whose lifetime is over (``time_exceeded``); those ended now."""
        over = []
        while self._expiries and self._expiries[0][0] <= now:
            conf = heapq.heappop(self._expiries)[2]
            if self.end(conf, "time_exceeded", conf.expires_at):
                over.append(conf)
        return over

    def next_expiry(self) -> float | None:
        """When the next conference in progress expires (our clock)."""
        while self._expiries and self._expiries[0][2].status == "completed":
            heapq.heappop(self._expiries)
        return self._expiries[0][0] if self._expiries else None

    def end(self, conf: Conference, reason: EndReason, now: float) -> bool:
        """End ``conf``; False when it had already ended."""
        if conf.status == "completed":
            return False
        conf.status = "completed"
        conf.ended_at = now
        conf.end_reason = reason
        return True

    def start_recording(
        self, conf: Conference, fmt: str, channels: str, now: float
    ) -> SimRecording:
        """A recording started at ``now`` (+ the start lag): saved unless ``unsaved-N-``."""
        started = now + self.start_lag_s
        ended = started + self.recording_seconds
        saved = len(conf.recordings) >= conf.plan.unsaved
        listed_at = ended + conf.plan.list_late_ms / 1000.0
        rec = SimRecording(str(uuid.uuid4()), conf, fmt, channels, started, ended, saved, listed_at)
        conf.recordings.append(rec)
        self.recordings[rec.id] = rec
        return rec

    # -- lookups ----------------------------------------------------------------

    def find(self, id_or_name: str, region: str | None = None) -> Conference | None:
        """By id, else the latest conference of that name (in ``region``, or any region)."""
        conf = self.by_id.get(id_or_name.lower()) if is_uuid(id_or_name) else None
        if conf is not None:
            return conf
        named = [
            c
            for (r, name), c in self._by_name.items()
            if name == id_or_name and (region is None or r == region)
        ]
        named.sort(key=lambda c: (c.status == "in_progress", c.created_at))
        return named[-1] if named else None

    def conferences(self, region: str) -> list[Conference]:
        """The conferences of ``region``, by ``expires_at`` descending (as Telnyx lists them)."""
        found = [c for c in self.by_id.values() if c.region == region]
        return sorted(found, key=lambda c: (c.expires_at, c.id), reverse=True)

    def listed(self, region: str, now: float) -> list[SimRecording]:
        """Recordings ``GET /v2/recordings`` shows in ``region`` now, newest first."""
        found = [
            r for r in self.recordings.values() if r.conference.region == region and r.listed(now)
        ]
        return sorted(found, key=lambda r: (r.ended_at, r.id), reverse=True)
