"""Reading bulk files (JSONL or CSV) row by row, and validating them before anything is sent.

Files are streamed twice — once to validate every row, once to enqueue — so a 100,000-row
file never sits in memory and a bad row anywhere means nothing is enqueued. A JSONL row is
JSON with JSON's types (``"play_beep": true``); a CSV cell is text, so CSV's documented
``true``/``false`` become booleans here, before the row is validated, and a column named
``label.KEY`` is the job's label ``KEY`` (``labels`` in JSONL is an object).
"""

from __future__ import annotations

import csv
import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from confrec.tasks.job import RecordStartJob

MAX_ROW_BYTES = 16 * 1024
MAX_REPORTED_ERRORS = 50
#: The job's boolean fields, and the CSV cells that are booleans (any case: Excel's TRUE).
CSV_BOOLEAN_FIELDS = ("play_beep",)
_CSV_BOOLEANS = {"true": True, "false": False}
#: A CSV column of one label: ``label.meeting`` is the label ``meeting``.
CSV_LABEL_PREFIX = "label."


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class Validation:
    """What the validating pass found: valid row count and the first errors."""

    valid: int = 0
    invalid: int = 0
    errors: list[RowError] = field(default_factory=list)

    def add(self, errors: list[RowError]) -> None:
        self.invalid += 1
        self.errors.extend(errors[: MAX_REPORTED_ERRORS - len(self.errors)])


class BadRow(ValueError):
    """A row that cannot even be read as a set of fields."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, fields) for each row; ``.csv`` is CSV, anything else JSONL."""
    if path.suffix.lower() == ".csv":
        yield from _csv_rows(path)
    else:
        yield from _jsonl_rows(path)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_no, raw in _jsonl_lines(path):
        yield line_no, _jsonl_row(line_no, raw)


def _jsonl_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Each line that is not blank, with its number."""
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if len(raw) > MAX_ROW_BYTES:
                raise BadRow(line_no, f"row is longer than {MAX_ROW_BYTES} bytes")
            if raw.strip():
                yield line_no, raw


def _jsonl_row(line_no: int, raw: bytes) -> dict[str, Any]:
    try:
        row = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # decoding, digits, depth
        raise BadRow(line_no, f"not valid JSON ({exc})") from None
    if not isinstance(row, dict):
        raise BadRow(line_no, "a row must be a JSON object of job fields")
    return row


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    csv.field_size_limit(MAX_ROW_BYTES)
    with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: Excel's BOM
        reader = csv.DictReader(f)
        try:
            for row in reader:
                if None in row:
                    raise BadRow(reader.line_num, "more cells than the header has names")
                if sum(len(v) for v in row.values()) > MAX_ROW_BYTES:
                    raise BadRow(reader.line_num, f"row is longer than {MAX_ROW_BYTES} bytes")
                yield reader.line_num, _typed({k: v for k, v in row.items() if v not in ("", None)})
        except (csv.Error, UnicodeDecodeError) as exc:
            raise BadRow(reader.line_num, f"unreadable CSV ({exc})") from None


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """CSV's ``true``/``false`` as booleans, ``label.KEY`` columns as the labels; any
    other text is left for validation to name."""
    for name in CSV_BOOLEAN_FIELDS:
        if name in row:
            row[name] = _CSV_BOOLEANS.get(row[name].lower(), row[name])
    labels = {
        name.removeprefix(CSV_LABEL_PREFIX): row.pop(name)
        for name in [n for n in row if n.startswith(CSV_LABEL_PREFIX)]
    }
    if labels:
        row["labels"] = labels
    return row


def _row_errors(line_no: int, exc: ValidationError) -> list[RowError]:
    return [
        RowError(line_no, ".".join(str(p) for p in err["loc"]) or "row", err["msg"])
        for err in exc.errors()
    ]


def _jobs(path: Path) -> Iterator[tuple[int, RecordStartJob | ValidationError]]:
    """Each row's job, or why it is invalid; BadRow at a row that cannot be read.

    A JSONL line is parsed and validated in one step by pydantic, at half the cost of
    ``json.loads`` and then validating (the same JSON types, and a repeated key's last
    value, as ``json.loads``); a line it refuses is read again as ``read_rows`` reads it,
    so a problem is reported as before, and the two passes still agree on every row."""
    if path.suffix.lower() == ".csv":
        for line_no, row in _csv_rows(path):
            yield line_no, _validated(row)
        return
    for line_no, raw in _jsonl_lines(path):
        try:
            yield line_no, RecordStartJob.model_validate_json(raw)
        except ValidationError:
            yield line_no, _validated(_jsonl_row(line_no, raw))


def _validated(row: dict[str, Any]) -> RecordStartJob | ValidationError:
    try:
        return RecordStartJob.model_validate(row)
    except ValidationError as exc:
        return exc


def validate_file(path: Path) -> Validation:
    """Validate every row; stops early only at a row that cannot be read at all."""
    result = Validation()
    try:
        for line_no, job in _jobs(path):
            if isinstance(job, ValidationError):
                result.add(_row_errors(line_no, job))
            else:
                result.valid += 1
    except BadRow as exc:
        result.add([RowError(exc.line, "row", str(exc))])
    return result


def iter_jobs(path: Path, lines: array[int] | None = None) -> Iterator[RecordStartJob]:
    """The jobs of a file that ``validate_file`` found clean; with ``lines``, each job's
    line number is appended to it as the job is read, so ``lines[seq - 1]`` is the line of
    the job ``seq`` places in its batch (4 bytes a row: a 100,000-row file stays flat)."""
    for line_no, job in _jobs(path):
        if isinstance(job, ValidationError):
            raise job  # the file changed since it was validated
        if lines is not None:
            lines.append(line_no)
        yield job
