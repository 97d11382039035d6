"""Reading and validating bulk files (worker/batches/bulkfile.py), JSONL and CSV, in tmp_path."""

from __future__ import annotations

import io
import json
import socket
import time
import tracemalloc
from pathlib import Path

import pytest
from rich.console import Console

from confrec.config.settings import Settings
from confrec.tasks.job import RecordStartJob
from confrec.worker.batches.bulkfile import (
    CSV_BOOLEAN_FIELDS,
    MAX_ROW_BYTES,
    iter_jobs,
    read_rows,
    validate_file,
)
from confrec.worker.batches.bulkrun import run_bulk
from confrec.worker.batches.report import default_wait_timeout
from confrec.worker.batches.watch import BatchWatch
from confrec.worker.exitcodes import ExitCode


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def error_lines(path: Path) -> list[str]:
    return [str(err) for err in validate_file(path).errors]


# --- JSONL ------------------------------------------------------------------------------


def test_jsonl_blank_lines_keep_physical_line_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "jobs.jsonl",
        '{"conference_id": "c1", "format": "wav"}\n'
        "\n"
        "   \n"
        '{"conference_id": "c2", "format": "mp3", "play_beep": true}\n'
        "\n",
    )
    assert [line for line, _ in read_rows(path)] == [1, 4]
    result = validate_file(path)
    assert (result.valid, result.invalid, result.errors) == (2, 0, [])


def test_jsonl_reports_every_bad_row_with_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "jobs.jsonl",
        "\n".join(
            [
                '{"conference_id": "c1", "format": "wav"}',
                '{"conference_id": "c2", "format": "ogg"}',
                "",
                '{"conference_id": "c4", "format": "wav", "channels": "stereo"}',
                '{"conference_id": "c5", "format": "wav"}',
                '{"format": "wav", "colour": "red"}',
                '{"conference_id": "c\\u0000", "format": "wav"}',
            ]
        )
        + "\n",
    )
    result = validate_file(path)
    assert (result.valid, result.invalid) == (2, 4)
    assert [str(err) for err in result.errors] == [
        "line 2: format: Input should be 'wav' or 'mp3'",
        "line 4: channels: Input should be 'single' or 'dual'",
        "line 6: conference_id: Field required",
        "line 6: colour: Extra inputs are not permitted",
        "line 7: conference_id: Value error, must not contain control characters",
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('["c1", "wav"]', "line 2: row: a row must be a JSON object of job fields"),
        ('"c1"', "line 2: row: a row must be a JSON object of job fields"),
        ('{"conference_id": "c1", "format": ', "line 2: row: not valid JSON"),
        ("[" * 16_000, "line 2: row: not valid JSON (maximum recursion depth"),
        ('{"conference_id": 1' + "0" * 5_000 + "}", "line 2: row: not valid JSON (Exceeds"),
    ],
)
def test_jsonl_unreadable_row_stops_validation(tmp_path: Path, line: str, message: str) -> None:
    path = write(
        tmp_path / "jobs.jsonl",
        f'{{"conference_id": "c1", "format": "wav"}}\n{line}\n{{"format": "ogg"}}\n',
    )
    result = validate_file(path)
    assert (result.valid, result.invalid) == (1, 1)
    (only,) = result.errors
    assert str(only).startswith(message)


def test_jsonl_invalid_utf8_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(b'{"conference_id": "c\xff", "format": "wav"}\n')
    assert error_lines(path)[0].startswith("line 1: row: not valid JSON")


def test_jsonl_row_over_max_bytes_is_rejected(tmp_path: Path) -> None:
    long_row = json.dumps({"conference_id": "c", "format": "wav", "pad": "x" * MAX_ROW_BYTES})
    path = write(
        tmp_path / "jobs.jsonl", f'{{"conference_id": "c1", "format": "wav"}}\n{long_row}\n'
    )
    assert error_lines(path) == [f"line 2: row: row is longer than {MAX_ROW_BYTES} bytes"]


def test_iter_jobs_yields_validated_jobs_in_order(tmp_path: Path) -> None:
    rows = [{"conference_id": f"c{i}", "format": "wav", "region": "Europe"} for i in range(5)]
    path = write(tmp_path / "jobs.jsonl", "\n\n".join(json.dumps(r) for r in rows))
    jobs = list(iter_jobs(path))
    assert jobs == [RecordStartJob.model_validate(r) for r in rows]
    assert all(isinstance(job, RecordStartJob) for job in jobs)


# --- CSV --------------------------------------------------------------------------------


def test_csv_label_columns_are_the_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path / "jobs.csv",
        "conference_id,format,label.meeting,label.team\nc1,wav,4711,sales\nc2,wav,,\nc3,wav,x,\u0007\n",
    )
    result = validate_file(path)
    assert (result.valid, result.invalid) == (2, 1)
    assert "label 'team' must not contain control characters" in str(result.errors[0])
    jobs = list(iter_jobs(write(tmp_path / "ok.csv", path.read_text().rsplit("c3", 1)[0])))
    assert [job.labels for job in jobs] == [{"meeting": "4711", "team": "sales"}, None]


def test_csv_with_header_and_empty_cells(tmp_path: Path) -> None:
    path = write(
        tmp_path / "jobs.csv",
        "conference_id,format,channels,play_beep,custom_file_name,region\n"
        "c1,wav,,true,,\n"
        "c2,mp3,dual,false,name,Middle East\n"
        "\n"
        "c3,wav,,,,\n",
    )
    result = validate_file(path)
    assert (result.valid, result.invalid, result.errors) == (3, 0, [])
    assert [line for line, _ in read_rows(path)] == [2, 3, 5]
    assert list(iter_jobs(path)) == [
        RecordStartJob(conference_id="c1", format="wav", play_beep=True),
        RecordStartJob(
            conference_id="c2",
            format="mp3",
            channels="dual",
            play_beep=False,
            custom_file_name="name",
            region="Middle East",
        ),
        RecordStartJob(conference_id="c3", format="wav"),
    ]


def test_csv_reports_bad_rows_and_too_many_cells(tmp_path: Path) -> None:
    path = write(
        tmp_path / "jobs.csv",
        "conference_id,format,play_beep\nc1,wav,\nc2,ogg,\n,wav,yes\nc4,wav,true,extra\nc5,flac,\n",
    )
    result = validate_file(path)
    assert (result.valid, result.invalid) == (1, 3)
    assert [str(err) for err in result.errors] == [
        "line 3: format: Input should be 'wav' or 'mp3'",
        "line 4: conference_id: Field required",
        "line 4: play_beep: Input should be a valid boolean",
        "line 5: row: more cells than the header has names",
    ]


def test_csv_booleans_are_true_or_false_in_any_case_and_jsonl_booleans_are_json(
    tmp_path: Path,
) -> None:
    """CSV cells are text: its documented true/false (Excel writes TRUE) become booleans.
    JSONL is JSON: "true" or 1 there is a wrong type, as over HTTP."""
    csv_file = write(
        tmp_path / "jobs.csv", "conference_id,format,play_beep\nc1,wav,TRUE\nc2,wav,False\n"
    )
    assert [job.play_beep for job in iter_jobs(csv_file)] == [True, False]
    jsonl = write(
        tmp_path / "jobs.jsonl",
        '{"conference_id": "c1", "format": "wav", "play_beep": "true"}\n'
        '{"conference_id": "c2", "format": "wav", "play_beep": 1}\n',
    )
    assert error_lines(jsonl) == [
        "line 1: play_beep: Input should be a valid boolean",
        "line 2: play_beep: Input should be a valid boolean",
    ]


def test_csv_boolean_fields_are_the_jobs_boolean_fields() -> None:
    booleans = {n for n, f in RecordStartJob.model_fields.items() if "bool" in str(f.annotation)}
    assert set(CSV_BOOLEAN_FIELDS) == booleans


def test_csv_exported_with_utf8_bom_is_read(tmp_path: Path) -> None:
    # Spreadsheet "CSV UTF-8" exports start with a byte-order mark.
    path = tmp_path / "jobs.csv"
    path.write_bytes("\ufeffconference_id,format\nc1,wav\n".encode())
    assert error_lines(path) == []
    assert list(iter_jobs(path)) == [RecordStartJob(conference_id="c1", format="wav")]


# --- streaming --------------------------------------------------------------------------


def test_validate_100k_rows_streams_in_flat_memory(tmp_path: Path) -> None:
    rows = 100_000
    path = tmp_path / "big.jsonl"
    # Short identical rows keep the traced run fast; what is measured is the streaming.
    path.write_text('{"conference_id":"c","format":"wav"}\n' * rows, encoding="utf-8")
    started = time.perf_counter()
    tracemalloc.start()
    try:
        result = validate_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert (result.valid, result.invalid) == (rows, 0)
    assert peak < 5 * 1024 * 1024, f"peak {peak} bytes for a {path.stat().st_size}-byte file"
    assert elapsed < 10, f"validating {rows} rows took {elapsed:.1f}s"


def _nothing_listens() -> Settings:
    """Settings whose broker and state Redis are a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return Settings.model_validate({"broker_url": f"redis://127.0.0.1:{port}/0"})


def _console() -> Console:
    return Console(file=io.StringIO(), width=400, soft_wrap=True)


def _text(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


@pytest.mark.parametrize("batch_key", [None, "K1"])
def test_broker_down_advice_names_batch_key_only_when_one_was_given(
    tmp_path: Path, batch_key: str | None
) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"conference_id": "c1", "format": "wav"}\n' * 2)
    err = _console()
    result = run_bulk(path, _nothing_listens(), batch_key=batch_key, out=_console(), err=err)
    assert result.code == ExitCode.BROKER
    message = _text(err)
    assert "0 of 2 jobs were enqueued" in message
    assert ".." not in message
    assert ("--batch-key" in message) == (batch_key is not None), message


@pytest.mark.parametrize("line", ["[" * 16_000, '{"format": 1' + "0" * 5_000 + "}"])
def test_a_hostile_jsonl_line_is_exit_2_with_its_line_number(tmp_path: Path, line: str) -> None:
    """Before: a RecursionError or ValueError escaped, a traceback and exit 1."""
    path = write(tmp_path / "jobs.jsonl", f'{{"conference_id": "c1", "format": "wav"}}\n{line}\n')
    err = _console()
    result = run_bulk(path, _nothing_listens(), out=_console(), err=err)
    assert result.code == ExitCode.INVALID and int(result.code) == 2
    assert "jobs.jsonl: line 2: row: not valid JSON" in _text(err), _text(err)


def test_waiting_prints_whole_seconds(tmp_path: Path) -> None:
    err = _console()
    watch = BatchWatch(_nothing_listens(), _console(), err)
    watch.follow("batch", 3, "0-0", wait_timeout=24.9591)
    assert "waiting up to 25s for 3 outcomes" in _text(err), _text(err)
    assert ".." not in _text(err)


def test_the_default_wait_is_whole_seconds() -> None:
    odd = Settings.model_validate(
        {"retry_deadline": 8.3, "http_timeout": 2.17, "visibility_timeout": 20}
    )
    bound = default_wait_timeout(7, odd)
    assert bound == int(bound) and bound >= 30 + 7 / 10 + 8.3 + 2.17 + 5 + 20 + 2 + 5
