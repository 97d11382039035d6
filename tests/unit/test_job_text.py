"""The job's text fields refuse exactly unicodedata's control characters (Cc)."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from pydantic import ValidationError

from confrec.tasks.job import _CONTROL, RecordStartJob

LABELLED = {"conference_id": "c", "format": "wav"}


def test_the_control_pattern_is_exactly_unicodes_cc() -> None:
    every = (chr(point) for point in range(sys.maxunicode + 1))
    cc = {ch for ch in every if unicodedata.category(ch) == "Cc"}
    assert {ch for ch in map(chr, range(sys.maxunicode + 1)) if _CONTROL.search(ch)} == cc


@pytest.mark.parametrize("text", ["a\x00b", "tab\there", "\x7f", "x\x85", "\x9f"])
def test_a_control_character_anywhere_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        RecordStartJob.model_validate({"conference_id": text, "format": "wav"})
    with pytest.raises(ValidationError, match="control characters"):
        RecordStartJob.model_validate(
            {"conference_id": "c", "format": "wav", "labels": {"k": text}}
        )


def test_text_beside_the_control_range_is_kept() -> None:
    text = "\x20\x7e\xa0é中😀"
    assert (
        RecordStartJob.model_validate({"conference_id": text, "format": "wav"}).conference_id
        == text
    )
