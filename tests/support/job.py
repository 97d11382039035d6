"""Jobs in the unit tests: a RecordStartJob with every field set, and a job built from a
few fields (conference ``conf-1``, ``wav`` unless told)."""

from __future__ import annotations

from typing import Any

from confrec.tasks.job import RecordStartJob

FULL: dict[str, Any] = {
    "conference_id": "conf-1",
    "format": "mp3",
    "command_id": "cmd-1",
    "channels": "dual",
    "play_beep": True,
    "trim": "trim-silence",
    "custom_file_name": "my_recording",
    "region": "Middle East",
    "labels": {"meeting": "4711", "team": "sales"},
}


def job(**fields: Any) -> RecordStartJob:
    return RecordStartJob.model_validate({"conference_id": "conf-1", "format": "wav", **fields})
