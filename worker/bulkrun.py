"""``confrec bulk``: validate a whole file, enqueue it with progress, optionally wait.

Shared by the CLI and the demo so both behave the same.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from config.clients import state_client
from config.settings import Settings
from tasks.job import Outcome
from tasks.producer import EnqueueError, Producer
from tasks.results import ResultsStream
from worker.app import create_app
from worker.bulk import iter_jobs, validate_file
from worker.report import Tally, summary_table, wait_for_batch

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_BROKER = 0, 1, 2, 3


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
) -> int:
    """Returns the exit code: 0 ok, 1 a job failed, 2 invalid file, 3 broker trouble."""
    out = out or Console()
    err = err or Console(stderr=True, soft_wrap=True)
    checked = validate_file(path)
    if checked.invalid:
        for error in checked.errors:
            err.print(f"error: {path.name}: {error}", highlight=False, markup=False)
        err.print(f"{checked.invalid} invalid row(s); nothing was enqueued", highlight=False)
        return EXIT_INVALID

    batch = str(uuid.uuid4())
    client = state_client(settings)
    stream = ResultsStream(client, settings.results_stream)
    producer = Producer(create_app(settings), settings.queue)
    try:
        start = stream.last_id()
        with _progress(err) as progress:
            bar = progress.add_task("enqueue", total=checked.valid, status="")
            producer.enqueue_many(
                iter_jobs(path),
                batch=batch,
                batch_key=batch_key,
                keep=False,
                on_sent=lambda n: progress.update(bar, completed=n),
            )
    except (EnqueueError, redis.RedisError) as exc:
        enqueued = exc.enqueued if isinstance(exc, EnqueueError) else 0
        err.print(
            f"error: broker {settings.safe_broker_url} failed after {enqueued} of "
            f"{checked.valid} jobs were enqueued: {exc}. Re-run with the same --batch-key "
            "to enqueue the file again without starting second recordings.",
            highlight=False,
            markup=False,
        )
        return EXIT_BROKER
    if not wait:
        _say(out, as_json, {"batch": batch, "enqueued": checked.valid})
        return EXIT_OK
    tally, complete = _wait(stream, batch, checked.valid, start, wait_timeout, err)
    summary = tally.as_dict() | {"batch": batch, "enqueued": checked.valid, "complete": complete}
    if as_json:
        print(json.dumps(summary))
    else:
        out.print(summary_table(tally), f"batch {batch}", highlight=False)
        if not complete:
            out.print(f"timed out: {checked.valid - tally.done} job(s) without an outcome yet")
    return EXIT_OK if complete and tally.failed == 0 else EXIT_FAILED


def _wait(
    stream: ResultsStream,
    batch: str,
    total: int,
    start: str,
    timeout: float | None,
    err: Console,
) -> tuple[Tally, bool]:
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

        return wait_for_batch(stream, batch, total, after=start, timeout_s=timeout, on_outcome=seen)


def _say(out: Console, as_json: bool, data: dict[str, object]) -> None:
    if as_json:
        print(json.dumps(data))
    else:
        out.print(" ".join(f"{k} {v}" for k, v in data.items()), highlight=False)
