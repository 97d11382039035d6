"""Following one batch to its end — its outcomes, then (if asked) its saved recordings —
with progress on stderr and a summary: for ``bulk --wait`` and the demo, whichever way
the batch was enqueued (a file, or ``POST /v1/jobs/bulk``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from confrec.config.settings import Settings
from confrec.tasks.job import Outcome
from confrec.tasks.store.streams import ResultsStream
from confrec.worker.batches.report import (
    RECORDINGS_WAIT_S,
    Tally,
    default_wait_timeout,
    seconds,
    summary_table,
    wait_for_batch,
    wait_for_recordings,
)
from confrec.worker.broker.clients import state_client
from confrec.worker.exitcodes import ExitCode
from confrec.worker.producing import create_recordings


@dataclass(frozen=True)
class BulkResult:
    code: ExitCode
    missing: int = 0
    """Outcomes not seen in time."""
    unsaved: int = 0
    """With recordings followed: started recordings not reported saved in time."""


@dataclass(frozen=True)
class Marks:
    """Where the results and recordings streams ended before the batch was enqueued:
    the watch reads from there, so it sees every entry of the batch and no older one."""

    outcomes: str
    recordings: str


@dataclass(frozen=True)
class Waited:
    """What the watch saw of a batch by the time it ended."""

    batch: str
    enqueued: int
    timeout_s: float
    tally: Tally

    @property
    def missing(self) -> int:
        return self.enqueued - self.tally.done

    @property
    def unsaved(self) -> int:
        """Started recordings not reported saved (0 when recordings were not followed)."""
        started, saved = self.tally.started, self.tally.saved
        return 0 if started is None else len(started) - len(saved or ())

    def as_dict(self) -> dict[str, object]:
        return self.tally.as_dict() | {
            "batch": self.batch,
            "enqueued": self.enqueued,
            "complete": self.missing == 0 and self.unsaved == 0,
            "missing": self.missing,
            "timeout_s": self.timeout_s,
        }


class BatchWatch:
    def __init__(self, settings: Settings, out: Console, err: Console) -> None:
        state = state_client(settings)
        self.settings = settings
        self.stream = ResultsStream(state, settings.results_stream)
        self.recordings = create_recordings(settings, state)
        self.out = out
        self.err = err

    def mark(self) -> Marks:
        """Call before enqueueing (raises ``redis.RedisError``)."""
        return Marks(self.stream.last_id(), self.recordings.last_id())

    def follow(
        self,
        batch: str,
        total: int,
        marks: Marks,
        *,
        wait_timeout: float | None = None,
        until_saved: bool = False,
        as_json: bool = False,
    ) -> BulkResult:
        """Wait for the batch's ``total`` outcomes within ``wait_timeout`` (default:
        ``default_wait_timeout``); with ``until_saved`` then for each started recording's
        ``conference.recording.saved``, within what is left of ``wait_timeout`` (default:
        ``RECORDINGS_WAIT_S`` more). Prints the summary; the code says how it ended."""
        timeout = (
            default_wait_timeout(total, self.settings) if wait_timeout is None else wait_timeout
        )
        self.err.print(f"waiting up to {seconds(timeout)} for {total} outcomes", highlight=False)
        began = time.monotonic()
        tally = Tally(started=set()) if until_saved else Tally()
        try:
            self._outcomes(batch, total, marks.outcomes, timeout, tally)
            if until_saved and tally.done == total:
                spent = time.monotonic() - began
                left = RECORDINGS_WAIT_S if wait_timeout is None else max(timeout - spent, 0.0)
                self._saved(tally, marks.recordings, left)
        except redis.RedisError as exc:
            self._error(
                f"redis {self.settings.safe_state_url} failed while waiting: "
                f"{str(exc).rstrip('. ')}. "
                f"All {total} jobs were enqueued (batch {batch})."
            )
            return BulkResult(ExitCode.BROKER)
        return self._report(Waited(batch, total, timeout, tally), as_json)

    def _outcomes(self, batch: str, total: int, start: str, timeout: float, tally: Tally) -> None:
        with progress_bar(self.err) as progress:
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

            wait_for_batch(
                self.stream,
                batch,
                total,
                after=start,
                timeout_s=timeout,
                on_outcome=seen,
                tally=tally,
            )

    def _saved(self, tally: Tally, start: str, timeout: float) -> None:
        started = len(tally.started or ())
        self.err.print(
            f"waiting up to {seconds(timeout)} for {started} recordings to be saved",
            highlight=False,
        )
        with progress_bar(self.err) as progress:
            bar = progress.add_task("saved", total=started, status="")

            def saved(tally: Tally) -> None:
                progress.update(bar, completed=len(tally.saved or ()))

            wait_for_recordings(
                self.recordings, tally, after=start, timeout_s=timeout, on_saved=saved
            )

    def _report(self, waited: Waited, as_json: bool) -> BulkResult:
        tally = waited.tally
        if as_json:
            print(json.dumps(waited.as_dict()))
        else:
            self.out.print(summary_table(tally))
            print(f"batch {waited.batch}")
            if tally.started is not None:
                print(f"{len(tally.started)} started, {len(tally.saved or ())} saved")
        if waited.missing:
            self._error(
                f"timed out after {seconds(waited.timeout_s)}: {waited.missing} of "
                f"{waited.enqueued} "
                f"outcomes missing (batch {waited.batch}); those jobs may still be queued or "
                "running"
            )
            return BulkResult(ExitCode.TIMED_OUT, waited.missing)
        if waited.unsaved:
            self._error(
                f"{waited.unsaved} of {len(tally.started or ())} started recordings not "
                f"reported saved in time (batch {waited.batch}); Telnyx saves a recording when "
                "its conference ends or recording stops: see `confrec status JOB_ID` later"
            )
            return BulkResult(ExitCode.TIMED_OUT, unsaved=waited.unsaved)
        return BulkResult(ExitCode.JOB_FAILED if tally.failed else ExitCode.OK)

    def _error(self, message: str) -> None:
        self.err.print(f"error: {message}", highlight=False, markup=False)


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
