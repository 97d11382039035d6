"""RecordStartJob's fields (tasks/job.py): what each accepts and rejects, and the job's
drift check against the spec (tasks/record_start.openapi.yaml). What a job becomes on the
wire, and Outcome: test_job_wire.py."""

from __future__ import annotations

import re
import sys
import types
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
import yaml
from pydantic import StringConstraints, ValidationError

from confrec.tasks.job import TEXT_PATTERN, RecordStartJob
from tests.support.job import FULL, job

SPEC_PATH = Path(__file__).parents[2] / "tasks" / "record_start.openapi.yaml"


def error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in err["loc"]) for err in exc.errors()}


# --- field rules ------------------------------------------------------------------------


def test_full_job_is_valid() -> None:
    assert RecordStartJob.model_validate(FULL).model_dump() == FULL


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"format": "wav"}, "conference_id"),
        ({"conference_id": "c"}, "format"),
        ({"conference_id": "", "format": "wav"}, "conference_id"),
        ({"conference_id": "x" * 257, "format": "wav"}, "conference_id"),
        ({"conference_id": None, "format": "wav"}, "conference_id"),
        ({"conference_id": 123, "format": "wav"}, "conference_id"),
        ({"conference_id": "c", "format": "ogg"}, "format"),
        ({"conference_id": "c", "format": "WAV"}, "format"),
        ({"conference_id": "c", "format": None}, "format"),
        ({"conference_id": "c", "format": "wav", "channels": "stereo"}, "channels"),
        ({"conference_id": "c", "format": "wav", "play_beep": "maybe"}, "play_beep"),
        ({"conference_id": "c", "format": "wav", "play_beep": [True]}, "play_beep"),
        ({"conference_id": "c", "format": "wav", "trim": "trim"}, "trim"),
        ({"conference_id": "c", "format": "wav", "custom_file_name": ""}, "custom_file_name"),
        ({"conference_id": "c", "format": "wav", "custom_file_name": "f" * 41}, "custom_file_name"),
        ({"conference_id": "c", "format": "wav", "region": "Asia"}, "region"),
        ({"conference_id": "c", "format": "wav", "region": "us"}, "region"),
        ({"conference_id": "c", "format": "wav", "command_id": ""}, "command_id"),
        ({"conference_id": "c", "format": "wav", "record_channels": "dual"}, "record_channels"),
        ({"conference_id": "c", "format": "wav", "Format": "wav"}, "Format"),
    ],
)
def test_invalid_field_is_rejected_and_named(fields: dict[str, Any], bad_field: str) -> None:
    with pytest.raises(ValidationError) as info:
        RecordStartJob.model_validate(fields)
    assert bad_field in error_fields(info.value)


@pytest.mark.parametrize("length", [1, 256])
def test_conference_id_length_bounds_accepted(length: int) -> None:
    assert len(job(conference_id="x" * length).conference_id) == length


@pytest.mark.parametrize("field", ["conference_id", "command_id", "custom_file_name"])
@pytest.mark.parametrize("char", ["\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x85"])
def test_control_characters_rejected(field: str, char: str) -> None:
    with pytest.raises(ValidationError) as info:
        job(**{field: f"a{char}b"})
    assert error_fields(info.value) == {field}
    assert "control characters" in str(info.value)


@pytest.mark.parametrize("field", ["conference_id", "command_id", "custom_file_name"])
@pytest.mark.parametrize("char", ["\ud800", "\udfff"])
def test_lone_surrogates_rejected(field: str, char: str) -> None:
    """A lone surrogate cannot be encoded, to Telnyx or into an outcome (pydantic refuses
    it as not valid unicode)."""
    with pytest.raises(ValidationError) as info:
        job(**{field: f"a{char}b"})
    assert error_fields(info.value) == {field}


@pytest.mark.parametrize("value", ["a/b#c?d é", "名前", "50% + more", "  spaced  "])
def test_conference_id_accepts_any_printable_text(value: str) -> None:
    assert job(conference_id=value).conference_id == value


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("format", ["wav", "mp3"]),
        ("channels", ["single", "dual"]),
        ("play_beep", [True, False]),
        ("trim", ["trim-silence"]),
        ("region", ["Australia", "Europe", "Middle East", "US"]),
        ("custom_file_name", ["a", "f" * 40]),
    ],
)
def test_allowed_values_accepted(field: str, values: list[Any]) -> None:
    for value in values:
        assert getattr(job(**{field: value}), field) == value


@pytest.mark.parametrize("raw", ["true", "false", "yes", 0, 1, "0", 1.0])
def test_play_beep_is_a_boolean_never_text_or_a_number(raw: object) -> None:
    """Strict: the OpenAPI document says boolean; CSV's text is converted before this."""
    with pytest.raises(ValidationError) as info:
        job(play_beep=raw)
    assert error_fields(info.value) == {"play_beep"}


def test_the_schema_pattern_refuses_exactly_what_the_validator_refuses() -> None:
    """TEXT_PATTERN (the OpenAPI document's) against unicodedata's "Cc", for every code
    point but the surrogates (pydantic's own refusal, stated in the description); and each
    string field's schema carries it."""
    pattern = re.compile(TEXT_PATTERN)
    points = [chr(n) for n in range(sys.maxunicode + 1) if not 0xD800 <= n <= 0xDFFF]
    refused = {ch for ch in points if unicodedata.category(ch) == "Cc"}
    assert {ch for ch in points if not pattern.fullmatch(ch)} == refused
    for ch in sorted(refused):
        with pytest.raises(ValidationError):
            job(conference_id=f"a{ch}")
    props = RecordStartJob.model_json_schema()["properties"]
    patterned = {
        name
        for name, prop in props.items()
        for one in [prop, *prop.get("anyOf", [])]
        if one.get("pattern") == TEXT_PATTERN
    }
    assert patterned == {"conference_id", "command_id", "custom_file_name"}


# --- spec drift -------------------------------------------------------------------------


def _spec_request() -> tuple[dict[str, Any], set[str]]:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    request = schemas["StartConferenceRecordingRequest"]
    props: dict[str, Any] = {}
    for name, prop in request["properties"].items():
        while "$ref" in prop:
            prop = schemas[prop["$ref"].rsplit("/", 1)[-1]]
        props[name] = prop
    return props, set(request.get("required", []))


def _base(annotation: Any) -> Any:
    """The annotation without Optional and Annotated wrappers."""
    while True:
        if get_origin(annotation) in (Union, types.UnionType):
            (annotation,) = [a for a in get_args(annotation) if a is not type(None)]
        elif get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        else:
            return annotation


def _annotation(name: str) -> Any:
    return RecordStartJob.model_fields[name].annotation


SPEC_PROPS, SPEC_REQUIRED = _spec_request()


def test_spec_fields_match_model_fields() -> None:
    assert set(RecordStartJob.model_fields) == set(SPEC_PROPS) | {"conference_id", "labels"}


def test_spec_required_matches_model_required() -> None:
    required = {n for n, f in RecordStartJob.model_fields.items() if f.is_required()}
    assert "format" in SPEC_REQUIRED
    assert required == SPEC_REQUIRED | {"conference_id"}


@pytest.mark.parametrize("name", sorted(SPEC_PROPS))
def test_spec_enum_and_type_match_model(name: str) -> None:
    prop = SPEC_PROPS[name]
    base = _base(_annotation(name))
    if "enum" in prop:
        assert get_origin(base) is Literal, f"{name}: spec has an enum, model does not"
        assert sorted(get_args(base)) == sorted(prop["enum"])
    else:
        assert get_origin(base) is not Literal, f"{name}: model has an enum, spec does not"
        assert base is {"string": str, "boolean": bool}[prop["type"]]


def test_spec_custom_file_name_lengths_match_model() -> None:
    prop = SPEC_PROPS["custom_file_name"]
    lo, hi = prop["minLength"], prop["maxLength"]
    metadata = get_args(_base_annotated(_annotation("custom_file_name")))[1:]
    constraints = [c for c in metadata if isinstance(c, StringConstraints)]
    assert [(c.min_length, c.max_length) for c in constraints] == [(lo, hi)]
    for length, ok in [(lo - 1, False), (lo, True), (hi, True), (hi + 1, False)]:
        try:
            job(custom_file_name="f" * length)
        except ValidationError:
            assert not ok, f"length {length} rejected"
        else:
            assert ok, f"length {length} accepted"


def _base_annotated(annotation: Any) -> Any:
    """The Annotated[...] inside an Optional."""
    (inner,) = [a for a in get_args(annotation) if a is not type(None)]
    assert get_origin(inner) is Annotated
    return inner
