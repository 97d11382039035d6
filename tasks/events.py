"""The event stream's rules (pure): where a reader stands in the two streams it follows,
who may see an entry, and what each event carries.

``GET /v1/events`` follows the results stream (one entry per outcome) and the recording
states stream (``keys.RECORDING_STATES``, one entry per change of a batch job's recording
state). A reader's place is one entry id in each, written ``<results id>,<recording id>``:
the SSE ``id:`` of every event, which ``Last-Event-ID`` hands back to resume exactly there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from confrec.tasks.principal import Principal

RESULTS = "results"
RECORDINGS = "recording_states"
_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
#: The longest ``Last-Event-ID`` read: two entry ids and a comma.
MAX_POSITION_CHARS = 2 * 41 + 1


@dataclass(frozen=True)
class Position:
    """The last entry id read of each stream (``0-0``: before the first)."""

    results: str = "0-0"
    recordings: str = "0-0"

    @classmethod
    def parse(cls, text: str) -> Position:
        """``<results id>,<recording id>``; ValueError naming what is wrong."""
        first, comma, second = text.strip().partition(",")
        if len(text) > MAX_POSITION_CHARS or not comma:
            raise ValueError("an event id is '<results entry id>,<recording entry id>'")
        for part in (first, second):
            if not _ENTRY_ID.fullmatch(part):
                raise ValueError(f"{part[:41]!r} is not a stream entry id (ms-seq)")
        return cls(first, second)

    @property
    def event_id(self) -> str:
        return f"{self.results},{self.recordings}"

    def after(self, stream: str, entry_id: str) -> Position:
        """This place, moved past ``entry_id`` of ``stream``."""
        field = "results" if stream == RESULTS else "recordings"
        return replace(self, **{field: entry_id})

    def of(self, stream: str) -> str:
        return self.results if stream == RESULTS else self.recordings


@dataclass(frozen=True)
class Gap:
    """Entries of ``stream`` after ``missed_from`` were trimmed before this reader read
    them; ``oldest`` is the first entry still there (None: the stream is empty)."""

    stream: str
    missed_from: str
    oldest: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"stream": self.stream, "missed_from": self.missed_from, "oldest": self.oldest}


def visible(fields: dict[str, str], viewer: Principal, batch: str | None) -> bool:
    """Whether an entry (its ``principal`` and ``batch`` fields) is shown to ``viewer``,
    following ``batch`` if given. The CLI's jobs have no principal: an operator's."""
    if batch is not None and fields.get("batch") != batch:
        return False
    return viewer.sees(fields.get("principal") or None)


def outcome_data(fields: dict[str, str], seq: str | None) -> dict[str, Any] | None:
    """An ``outcome`` event's data: the outcome's JSON and the job's place in its batch;
    None for an entry that holds no outcome object."""
    try:
        outcome = json.loads(fields.get("outcome", ""))
    except ValueError:
        return None
    if not isinstance(outcome, dict):
        return None
    return {**outcome, "seq": _number(seq)}


def recording_data(fields: dict[str, str], labels: str | None) -> dict[str, Any]:
    """A ``recording`` event's data: the job, its batch and conference, its new recording
    state and why, and the job's labels (kept in its state, not in the entry)."""
    found = {name: fields.get(name) or None for name in _RECORDING_FIELDS}
    return {**found, "labels": _labels(labels)}


_RECORDING_FIELDS = ("job_id", "batch", "conference_id", "state", "reason")


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _labels(text: str | None) -> dict[str, str] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
