"""The job and outcome models: what producers enqueue and what consumers read back.

The job's fields are exactly the request body of Telnyx's record_start (see the copy of
the spec beside this file) plus the conference; a test keeps them in step with the spec.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticSerializationError

TASK_NAME = "confrec.record_start"
#: Message headers set by confrec's producer; messages from other services may lack them.
HEADER_ENQUEUED_AT = "confrec_enqueued_at"
HEADER_BATCH = "confrec_batch"
#: Set by ``confrec batch retry`` / ``POST /v1/batches/{id}/retry``: the job this one retries.
HEADER_RETRY_OF = "confrec_retry_of"
#: Set only by the worker's consumer (removed from what arrives): why a message cannot run
#: (its outcome is ``invalid``), and the message's own id when the job id was derived.
HEADER_REFUSED = "confrec_refused"
HEADER_RAW_JOB_ID = "confrec_raw_job_id"
MAX_CONFERENCE_ID_LENGTH = 256
#: Namespace of derived command_ids, so they never collide with other uuid5 users.
COMMAND_ID_NAMESPACE = uuid.UUID("6f1d3a52-6c1e-4f0e-9a55-3b7a0c1f2e94")
#: A named principal's derived command ids live in a namespace of their own, so no batch
#: key of anyone else (unnamed, the CLI, another name) can ever derive the same one.
PRINCIPAL_COMMAND_ID_NAMESPACE = uuid.uuid5(COMMAND_ID_NAMESPACE, "principal")

Format = Literal["wav", "mp3"]
Channels = Literal["single", "dual"]
Trim = Literal["trim-silence"]
Region = Literal["Australia", "Europe", "Middle East", "US"]
Status = Literal["succeeded", "failed"]
Reason = Literal["ok", "rejected", "retries_exhausted", "invalid"]
#: ``Outcome.detail`` of a job given up, unsent, after more deliveries than the limit.
DELIVERY_LIMIT = "delivery_limit"
#: What ``_no_control_characters`` refuses, as a JSON Schema ``pattern`` for the OpenAPI
#: document: unicodedata's "Cc" (U+0000-U+001F, U+007F-U+009F). Lone surrogates (refused by
#: pydantic as not valid unicode) are in the description instead: JSON Schema's regexes match
#: UTF-16 code units, so a surrogate range there would refuse every valid pair (an emoji) too.
TEXT_PATTERN = r"^[^\x00-\x1F\x7F-\x9F]*$"
_TEXT_RULE = "No control characters (Unicode Cc) and no lone surrogates (U+D800-U+DFFF)."
#: A string field's rule stated in its schema (``_no_control_characters`` enforces it).
_TEXT = Field(json_schema_extra={"pattern": TEXT_PATTERN, "description": _TEXT_RULE})
#: Labels: the producer's own keys and values, bounded so a job stays a small message.
MAX_LABELS = 16
MAX_LABEL_VALUE = 256
LABEL_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)]
LabelValue = Annotated[str, StringConstraints(max_length=MAX_LABEL_VALUE), _TEXT]
Labels = Annotated[
    dict[LabelKey, LabelValue],
    Field(
        max_length=MAX_LABELS,
        json_schema_extra={"additionalProperties": False},  # a key outside the pattern: 422
        description=(
            f"The producer's own keys and values (at most {MAX_LABELS}; keys match "
            f"{LABEL_KEY_PATTERN}, values are at most {MAX_LABEL_VALUE} characters): stored "
            "with the job and shown wherever it is, never sent to Telnyx."
        ),
    ),
]


class RecordStartJob(BaseModel):
    """One record-start job: a conference plus the record_start request body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    conference_id: Annotated[
        str, StringConstraints(min_length=1, max_length=MAX_CONFERENCE_ID_LENGTH), _TEXT
    ]
    format: Format
    command_id: Annotated[str, StringConstraints(min_length=1, max_length=256), _TEXT] | None = None
    channels: Channels | None = None
    play_beep: StrictBool | None = None
    """A JSON boolean: ``0``, ``"yes"`` or ``"true"`` are refused (CSV's ``true``/``false``
    are converted by the bulk file reader before a row is validated)."""
    trim: Trim | None = None
    custom_file_name: (
        Annotated[str, StringConstraints(min_length=1, max_length=40), _TEXT] | None
    ) = None
    region: Region | None = None
    labels: Labels | None = None
    """Not Telnyx's: the producer's own, so it can find its job again (e.g. a meeting id)."""

    @field_validator("conference_id", "command_id", "custom_file_name")
    @classmethod
    def _no_control_characters(cls, value: str | None) -> str | None:
        if value is not None and _has_control(value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("labels")
    @classmethod
    def _labels_without_control_characters(
        cls, value: dict[str, str] | None
    ) -> dict[str, str] | None:
        for key, text in (value or {}).items():
            if _has_control(text):
                raise ValueError(f"label {key!r} must not contain control characters")
        return value

    def request_body(self) -> dict[str, Any]:
        """The record_start body: only the fields that were set, never the conference
        and never the labels (they are the producer's, not Telnyx's)."""
        return self.model_dump(exclude_none=True, exclude={"conference_id", "labels"})

    def task_kwargs(self) -> dict[str, Any]:
        """The Celery kwargs of this job: its fields, unset ones left out."""
        return self.model_dump(exclude_none=True)

    def command_id_for(self, job_id: str) -> str:
        """The command_id every delivery of message ``job_id`` sends: the job's own, or,
        for a message from another service that set none, one derived from its id."""
        return self.command_id or derived_command_id(job_id, self)

    def with_command_id(self, command_id: str) -> RecordStartJob:
        """This job with its command_id fixed, unless the producer already chose one."""
        return self if self.command_id else self.model_copy(update={"command_id": command_id})


_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def conference_is_name(conference_id: str) -> bool:
    """Telnyx's conference ids are UUIDs; anything else a job addresses is a name, which
    Telnyx's webhooks and lists never show (they report the id)."""
    return _UUID.fullmatch(conference_id) is None


def canonical_conference(conference_id: str) -> str:
    """The form a conference is stored under: a UUID in lower case (as Telnyx reports
    ids), so a job that wrote it in upper case still meets its recordings; a name as is."""
    return conference_id if conference_is_name(conference_id) else conference_id.lower()


def new_command_id() -> str:
    return str(uuid.uuid4())


def derived_command_id(seed: str, job: RecordStartJob, scope: str | None = None) -> str:
    """A command_id that is the same every time the same job is derived from the same seed.

    Used for ``bulk --batch-key`` (seed = the key, so re-running a file cannot start a
    second recording) and for jobs sent by other services without one (seed = job id, so
    every redelivery sends the same id). ``scope``: a named principal's name (no newline
    in it), whose keys are then its own; without one, the derivation is unchanged.
    """
    fields = job.model_dump(
        exclude_none=True, exclude={"labels"}
    )  # a relabelled row is the same job
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    if scope is not None:
        return str(uuid.uuid5(PRINCIPAL_COMMAND_ID_NAMESPACE, f"{scope}\n{seed}\n{canonical}"))
    return str(uuid.uuid5(COMMAND_ID_NAMESPACE, f"{seed}\n{canonical}"))


class TelnyxError(BaseModel):
    """One entry of Telnyx's ``errors`` array, as carried in a ``rejected`` outcome."""

    model_config = ConfigDict(extra="allow")

    code: str
    title: str
    detail: str | None = None


class Outcome(BaseModel):
    """The one message a job publishes to the results stream (extra fields allowed)."""

    model_config = ConfigDict(extra="allow")

    job_id: str
    conference_id: str
    command_id: str | None
    status: Status
    reason: Reason
    http_status: int | None = None
    attempts: int = 0
    errors: list[TelnyxError] = Field(default_factory=list)
    enqueued_at: str | None = None
    finished_at: str = Field(default_factory=lambda: utc_now())
    # Extra fields, written only when they apply:
    batch: str | None = None
    """The bulk run that enqueued the job (``bulk --wait`` follows its own batch)."""
    detail: str | None = None
    """Why the last attempt got no answer (e.g. ``ReadTimeout``)."""
    duplicate_of: str | None = None
    """The job that already started a recording with this command_id: nothing was sent."""
    redelivered: int | None = None
    """Which delivery published this outcome, when an earlier one had sent attempts."""
    redelivered_after_dedupe_window: bool | None = None
    """The last earlier attempt was over 60 s before: Telnyx may not de-duplicate it."""
    faulty_deliveries: int | None = None
    """Deliveries that raised before this outcome was published (``detail`` names the
    exception type)."""
    labels: dict[str, str] | None = None
    """The job's labels, as its producer gave them."""
    raw_job_id: str | None = None
    """The message's own task id, JSON-escaped and ASCII only, when it was not a valid job
    id and the outcome is published under one derived from it (``worker/inbound.py``)."""
    retry_of: str | None = None
    """The failed job this one sends again (same command_id; see docs/retry.md)."""

    @field_validator("job_id", "conference_id", "command_id")
    @classmethod
    def _encodable(cls, value: str | None) -> str | None:
        """These also go into Redis keys and stream fields, so they must encode."""
        return None if value is None else escape_surrogates(value)

    def to_json(self) -> str:
        """The stream's ``outcome`` field: the contract's keys always, extras when set.
        Never raises on encoding: a lone surrogate (a raw producer's ``"\\ud800"``, which
        UTF-8 cannot carry) is written as the six characters of its escape."""
        unset = {name for name in _OPTIONAL_EXTRAS if getattr(self, name) is None}
        try:
            return self.model_dump_json(exclude=unset)
        except PydanticSerializationError:
            fields = _without_surrogates(self.model_dump(exclude=unset))
            return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


class JobFailed(Exception):
    """Raised by the task after a ``failed`` outcome is published, so that Flower and
    Celery's events show the job as FAILURE; the task lists it in ``throws`` (logged
    without a traceback) and, raised, the message is acked: never redelivered."""

    @classmethod
    def of(cls, outcome: Outcome) -> JobFailed:
        """Reason, HTTP status, Telnyx's error codes and titles, attempts: no secrets
        (the outcome carries none), e.g. ``rejected: 422 90019 Conference has already
        ended (attempts 1)``."""
        errors = "; ".join(f"{error.code} {error.title}" for error in outcome.errors[:3])
        parts = [f"{outcome.reason}:", str(outcome.http_status or ""), errors, outcome.detail or ""]
        text = " ".join(part for part in parts if part)[:400]
        return cls(f"{text} (attempts {outcome.attempts})")


_OPTIONAL_EXTRAS = (
    "batch",
    "labels",
    "detail",
    "duplicate_of",
    "redelivered",
    "redelivered_after_dedupe_window",
    "faulty_deliveries",
    "raw_job_id",
    "retry_of",
)

_SURROGATE = re.compile("[\ud800-\udfff]")


#: The characters TEXT_PATTERN refuses, unicodedata's "Cc" (a test holds them equal): one
#: regex search instead of a category lookup per character (most of a validation's time).
_CONTROL = re.compile(r"[\x00-\x1F\x7F-\x9F]")


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as its escape (``\\ud800``): a Python
    string decoded from JSON may hold one, and no UTF-8 encoder takes it."""
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return escape_surrogates(value)
    if isinstance(value, dict):
        return {escape_surrogates(str(k)): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_surrogates(v) for v in value]
    return value


def utc_now() -> str:
    """Now as ISO-8601 in UTC, the timestamp format of every outcome."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")
