"""Validate a record_start body against StartConferenceRecordingRequest.

The simulator is deliberately *strict* where the spec is silent (``null`` for
an optional field is rejected, booleans must be JSON booleans): a worker that
passes here cannot be relying on Telnyx being lenient.  Unknown fields are
ignored, as Telnyx does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from confrec.simulator import errors
from confrec.simulator.errors import ErrorDict

__all__ = ["ENUMS", "ParsedBody", "parse_body", "validate_body"]

# Enumerated fields from the spec, in spec order.
ENUMS: dict[str, tuple[str, ...]] = {
    "format": ("wav", "mp3"),
    "channels": ("single", "dual"),
    "trim": ("trim-silence",),
    "region": ("Australia", "Europe", "Middle East", "US"),
}
FILE_NAME_MIN, FILE_NAME_MAX = 1, 40


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """A decoded body: ``obj`` is the JSON object, or None with ``error`` set."""

    obj: dict[str, Any] | None
    error: ErrorDict | None

    @property
    def command_id(self) -> str | None:
        """The body's command_id if it is a string (recorded even on failure)."""
        if self.obj is None:
            return None
        value = self.obj.get("command_id")
        return value if isinstance(value, str) else None


def parse_body(raw: bytes) -> ParsedBody:
    """Decode ``raw`` as a JSON object; an empty body counts as ``{}``."""
    if not raw.strip():
        return ParsedBody({}, None)
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return ParsedBody(None, errors.bad_request_body("The request body is not valid JSON."))
    if not isinstance(value, dict):
        return ParsedBody(None, errors.bad_request_body("The request body must be a JSON object."))
    return ParsedBody(value, None)


def validate_body(body: dict[str, Any]) -> list[ErrorDict]:
    """All validation errors for ``body`` (empty list when it is valid)."""
    problems: list[ErrorDict] = []

    fmt = body.get("format")
    if fmt is None or fmt == "":
        problems.append(errors.missing_parameter("format"))
    for name, allowed in ENUMS.items():
        if name not in body or (name == "format" and (fmt is None or fmt == "")):
            continue
        if body[name] not in allowed or not isinstance(body[name], str):
            problems.append(errors.invalid_enum(name, allowed))

    if "command_id" in body and not isinstance(body["command_id"], str):
        problems.append(errors.invalid_type("command_id", "string"))
    if "play_beep" in body and not isinstance(body["play_beep"], bool):
        problems.append(errors.invalid_type("play_beep", "boolean"))
    if "custom_file_name" in body:
        name = body["custom_file_name"]
        if not isinstance(name, str):
            problems.append(errors.invalid_type("custom_file_name", "string"))
        elif not FILE_NAME_MIN <= len(name) <= FILE_NAME_MAX:
            problems.append(errors.out_of_range("custom_file_name", FILE_NAME_MIN, FILE_NAME_MAX))
    return problems
