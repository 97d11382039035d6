"""A JSONL row parsed and validated by pydantic in one step (worker/batches/bulkfile.py)
reads as ``json.loads`` and validating read it: the same jobs, the same problems."""

from __future__ import annotations

from array import array
from pathlib import Path

from confrec.worker.batches.bulkfile import iter_jobs, validate_file


def test_a_repeated_key_counts_with_its_last_value_in_both_passes(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text(
        '{"conference_id": "c1", "format": "bogus", "format": "wav"}\n'
        '{"conference_id": "c2", "format": "wav", "labels": {"k": "1", "k": "2"}}\n'
    )
    assert validate_file(path).valid == 2
    jobs = list(iter_jobs(path))
    assert [(job.format, job.labels) for job in jobs] == [("wav", None), ("wav", {"k": "2"})]


def test_a_line_only_json_loads_reads_is_still_a_job(tmp_path: Path) -> None:
    """pydantic's parser refuses a UTF-8 BOM that json.loads skips: read the slow way."""
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"conference_id": "c1", "format": "wav"}\n')
    assert (validate_file(path).valid, validate_file(path).invalid) == (1, 0)
    lines = array("I")
    assert [job.conference_id for job in iter_jobs(path, lines)] == ["c1"]
    assert list(lines) == [1]


def test_problems_are_named_as_before(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text(
        '{"conference_id": "c1", "format": "ogg"}\n'
        '{"conference_id": "c2", "format": "wav", "extra": 1}\n'
        '["not", "an", "object"]\n'
    )
    errors = [str(error) for error in validate_file(path).errors]
    assert errors[0].startswith("line 1: format: Input should be 'wav' or 'mp3'")
    assert errors[1].startswith("line 2: extra: Extra inputs are not permitted")
    assert errors[2] == "line 3: row: a row must be a JSON object of job fields"
