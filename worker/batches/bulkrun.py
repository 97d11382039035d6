"""``confrec bulk``: validate a whole file, enqueue it with progress, optionally wait.

Waiting is ``BatchWatch``'s, shared with the demo, so both report the same way. The batch
id, and the command that follows it, go to stderr before the first job is sent and again
when the run is interrupted (Ctrl-C: exit 130), so the batch is never lost to the user.
"""

from __future__ import annotations

import json
import uuid
from array import array
from pathlib import Path

import redis
from rich.console import Console

from confrec.config.settings import Settings
from confrec.tasks.publishing.producer import EnqueueError, Producer
from confrec.worker.batches.bulkfile import iter_jobs, validate_file
from confrec.worker.batches.watch import BatchWatch, BulkResult, progress_bar
from confrec.worker.exitcodes import ExitCode
from confrec.worker.producing import create_producer


def run_bulk(
    path: Path,
    settings: Settings,
    *,
    wait: bool = False,
    batch_key: str | None = None,
    as_json: bool = False,
    wait_timeout: float | None = None,
    until_saved: bool = False,
    out: Console | None = None,
    err: Console | None = None,
) -> BulkResult:
    """Validate, enqueue, and with ``wait`` (or ``until_saved``, which implies it) follow
    the batch: see ``BatchWatch.follow``."""
    out = out or Console()
    err = err or Console(stderr=True, soft_wrap=True)
    try:
        checked = validate_file(path)
    except KeyboardInterrupt:
        err.print("interrupted while validating; nothing was enqueued", highlight=False)
        return BulkResult(ExitCode.INTERRUPTED)
    if checked.invalid:
        for error in checked.errors:
            _error(err, f"{path.name}: {error}")
        err.print(f"{checked.invalid} invalid row(s); nothing was enqueued", highlight=False)
        return BulkResult(ExitCode.INVALID)

    batch = str(uuid.uuid4())
    _say(err, following(batch))
    watch = BatchWatch(settings, out, err)
    lines = array("I")  # each job's line, by its place in the batch
    sent = [0]
    try:
        mark = watch.mark()
        _enqueue(create_producer(settings), path, checked.valid, batch, batch_key, err, lines, sent)
    except KeyboardInterrupt:
        _say(
            err,
            f"interrupted after {sent[0]} of {checked.valid} jobs were enqueued (the chunk "
            f"being sent may be partly enqueued too).{_rerun_advice(batch_key, sent[0])} "
            + following(batch),
        )
        return BulkResult(ExitCode.INTERRUPTED)
    except (EnqueueError, redis.RedisError) as exc:
        failed, enqueued = (
            (f"broker {settings.safe_broker_url}", exc.enqueued)
            if isinstance(exc, EnqueueError)
            else (f"redis {settings.safe_state_url}", 0)
        )
        _error(
            err,
            f"{failed} failed after {enqueued} of {checked.valid} jobs were enqueued: "
            f"{str(exc).rstrip('. ')}.{_rerun_advice(batch_key, enqueued)}",
        )
        return BulkResult(ExitCode.BROKER)
    if not (wait or until_saved):
        print(
            json.dumps({"batch": batch, "enqueued": checked.valid})
            if as_json
            else f"batch {batch} enqueued {checked.valid}"
        )
        return BulkResult(ExitCode.OK)
    try:
        return watch.follow(
            batch,
            checked.valid,
            mark,
            wait_timeout=wait_timeout,
            until_saved=until_saved,
            as_json=as_json,
            lines=lines,
        )
    except KeyboardInterrupt:
        _say(
            err,
            f"interrupted; all {checked.valid} jobs were enqueued and the workers go on "
            f"without this command. {following(batch)}",
        )
        return BulkResult(ExitCode.INTERRUPTED)


def following(batch: str) -> str:
    """The line that names the batch and how to follow it."""
    return f"batch {batch}: follow it with `confrec batch {batch}`"


def _enqueue(
    producer: Producer,
    path: Path,
    total: int,
    batch: str,
    batch_key: str | None,
    err: Console,
    lines: array[int],
    sent: list[int],
) -> None:
    """Enqueue the file's jobs; ``lines`` gets each one's line, ``sent[0]`` the count
    known to be enqueued so far."""

    def on_sent(n: int) -> None:
        sent[0] = n
        progress.update(bar, completed=n)

    with progress_bar(err) as progress:
        bar = progress.add_task("enqueue", total=total, status="")
        producer.enqueue_many(
            iter_jobs(path, lines), batch=batch, batch_key=batch_key, keep=False, on_sent=on_sent
        )


def _rerun_advice(batch_key: str | None, enqueued: int) -> str:
    """What a re-run of the file does: only what applies to this run."""
    if batch_key is not None:
        return (
            " Re-run with the same --batch-key to enqueue the file again without starting "
            "second recordings."
        )
    return f" Re-running the whole file enqueues those {enqueued} again." if enqueued else ""


def _error(err: Console, message: str) -> None:
    err.print(f"error: {message}", highlight=False, markup=False)


def _say(err: Console, message: str) -> None:
    err.print(message, highlight=False, markup=False)
