"""``confrec bulk``: validate a whole file, enqueue it with progress, optionally wait.

Waiting is ``BatchWatch``'s, shared with the demo, so both report the same way.
"""

from __future__ import annotations

import json
import uuid
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
    checked = validate_file(path)
    if checked.invalid:
        for error in checked.errors:
            _error(err, f"{path.name}: {error}")
        err.print(f"{checked.invalid} invalid row(s); nothing was enqueued", highlight=False)
        return BulkResult(ExitCode.INVALID)

    batch = str(uuid.uuid4())
    watch = BatchWatch(settings, out, err)
    try:
        mark = watch.mark()
        _enqueue(create_producer(settings), path, checked.valid, batch, batch_key, err)
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
    return watch.follow(
        batch,
        checked.valid,
        mark,
        wait_timeout=wait_timeout,
        until_saved=until_saved,
        as_json=as_json,
    )


def _enqueue(
    producer: Producer, path: Path, total: int, batch: str, batch_key: str | None, err: Console
) -> None:
    with progress_bar(err) as progress:
        bar = progress.add_task("enqueue", total=total, status="")
        producer.enqueue_many(
            iter_jobs(path),
            batch=batch,
            batch_key=batch_key,
            keep=False,
            on_sent=lambda n: progress.update(bar, completed=n),
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
