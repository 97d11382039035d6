"""``confrec bulk``: validate a whole file, enqueue it with progress, optionally wait.

Shared by the CLI and the demo so both behave the same.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from confrec.config.settings import Settings
from confrec.tasks.job import Outcome
from confrec.tasks.producer import EnqueueError, Producer
from confrec.tasks.streams import ResultsStream
from confrec.worker.bulk import iter_jobs, validate_file
from confrec.worker.clients import state_client
from confrec.worker.exitcodes import ExitCode
from confrec.worker.producing import create_producer
from confrec.worker.report import Tally, default_wait_timeout, summary_table, wait_for_batch


@dataclass(frozen=True)
class BulkResult:
    code: ExitCode
    missing: int = 0
    """Outcomes not seen when the wait timed out."""


@dataclass(frozen=True)
class Waited:
    """What ``--wait`` saw of a batch by the time it ended."""

    batch: str
    enqueued: int
    timeout_s: float
    tally: Tally

    @property
    def missing(self) -> int:
        return self.enqueued - self.tally.done

    def as_dict(self) -> dict[str, object]:
        return self.tally.as_dict() | {
            "batch": self.batch,
            "enqueued": self.enqueued,
            "complete": self.missing == 0,
            "missing": self.missing,
            "timeout_s": self.timeout_s,
        }


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run_bulk(
    path: Path,
    settings: Settings,
    *,
    wait: bool = False,
    batch_key: str | None = None,
    as_json: bool = False,
    wait_timeout: float | None = None,
    out: Console | None = None,
    err: Console | None = None,
) -> BulkResult:
    """Validate, enqueue, and with ``wait`` follow the batch until every outcome arrived or
    ``wait_timeout`` (default: ``default_wait_timeout``) ran out."""
    out = out or Console()
    err = err or Console(stderr=True, soft_wrap=True)
    checked = validate_file(path)
    if checked.invalid:
        for error in checked.errors:
            _error(err, f"{path.name}: {error}")
        err.print(f"{checked.invalid} invalid row(s); nothing was enqueued", highlight=False)
        return BulkResult(ExitCode.INVALID)

    batch = str(uuid.uuid4())
    stream = ResultsStream(state_client(settings), settings.results_stream)
    producer = create_producer(settings)
    try:
        start = stream.last_id()
        _enqueue(producer, path, checked.valid, batch, batch_key, err)
    except (EnqueueError, redis.RedisError) as exc:
        failed, enqueued = (
            (f"broker {settings.safe_broker_url}", exc.enqueued)
            if isinstance(exc, EnqueueError)
            else (f"redis {settings.safe_state_url}", 0)
        )
        _error(
            err,
            f"{failed} failed after {enqueued} of {checked.valid} jobs were enqueued: {exc}. "
            "Re-run with the same --batch-key to enqueue the file again without starting "
            "second recordings.",
        )
        return BulkResult(ExitCode.BROKER)
    if not wait:
        _say(as_json, {"batch": batch, "enqueued": checked.valid})
        return BulkResult(ExitCode.OK)

    timeout = (
        default_wait_timeout(checked.valid, settings) if wait_timeout is None else wait_timeout
    )
    err.print(f"waiting up to {timeout:g}s for {checked.valid} outcomes", highlight=False)
    try:
        tally = _wait(stream, batch, checked.valid, start, timeout, err)
    except redis.RedisError as exc:
        _error(
            err,
            f"redis {settings.safe_state_url} failed while waiting for outcomes: {exc}. "
            f"All {checked.valid} jobs were enqueued (batch {batch}).",
        )
        return BulkResult(ExitCode.BROKER)
    return _report(Waited(batch, checked.valid, timeout, tally), as_json, out, err)


def _enqueue(
    producer: Producer, path: Path, total: int, batch: str, batch_key: str | None, err: Console
) -> None:
    with _progress(err) as progress:
        bar = progress.add_task("enqueue", total=total, status="")
        producer.enqueue_many(
            iter_jobs(path),
            batch=batch,
            batch_key=batch_key,
            keep=False,
            on_sent=lambda n: progress.update(bar, completed=n),
        )


def _report(waited: Waited, as_json: bool, out: Console, err: Console) -> BulkResult:
    """Print the summary; the exit code says whether it is complete and all succeeded."""
    if as_json:
        print(json.dumps(waited.as_dict()))
    else:
        out.print(summary_table(waited.tally))
        print(f"batch {waited.batch}")
    if waited.missing:
        _error(
            err,
            f"timed out after {waited.timeout_s:g}s: {waited.missing} of {waited.enqueued} "
            f"outcomes missing (batch {waited.batch}); those jobs may still be queued or "
            "running",
        )
        return BulkResult(ExitCode.TIMED_OUT, waited.missing)
    return BulkResult(ExitCode.JOB_FAILED if waited.tally.failed else ExitCode.OK)


def _wait(
    stream: ResultsStream,
    batch: str,
    total: int,
    start: str,
    timeout: float,
    err: Console,
) -> Tally:
    with _progress(err) as progress:
        bar = progress.add_task("outcomes", total=total, status="")

        started = time.monotonic()

        def seen(_: Outcome, tally: Tally) -> None:
            rate = tally.done / max(time.monotonic() - started, 1e-3)
            progress.update(
                bar,
                completed=tally.done,
                status=(
                    f"ok {tally.done - tally.failed}  failed {tally.failed}  "
                    f"retried {sum(tally.retried.values())}  {rate:,.0f}/s"
                ),
            )

        tally, _ = wait_for_batch(
            stream, batch, total, after=start, timeout_s=timeout, on_outcome=seen
        )
        return tally


def _say(as_json: bool, data: dict[str, object]) -> None:
    """Plain print: ids never wrap or pass through markup, whatever the terminal."""
    print(json.dumps(data) if as_json else " ".join(f"{k} {v}" for k, v in data.items()))


def _error(err: Console, message: str) -> None:
    err.print(f"error: {message}", highlight=False, markup=False)
