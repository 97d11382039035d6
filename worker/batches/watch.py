"""Following one batch to its end — its outcomes, then (if asked) its saved recordings —
with progress on stderr and a summary: for ``bulk --wait`` and the demo, whichever way
the batch was enqueued (a file, or ``POST /v1/jobs/bulk``).
"""

from __future__ import annotations

import json
import time
from array import array
from dataclasses import dataclass

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from confrec.config.settings import Settings
from confrec.tasks.job import Outcome
from confrec.tasks.status import recording_states
from confrec.tasks.store.streams import ResultsStream
from confrec.worker.batches.failures import Failure, placed
from confrec.worker.batches.report import (
    ALREADY_DONE,
    RECORDING_STATES,
    RECORDINGS_WAIT_S,
    Tally,
    default_wait_timeout,
    seconds,
    summary_table,
    wait_for_batch,
    wait_for_recordings,
)
from confrec.worker.batches.stall import StallWatch
from confrec.worker.broker.clients import broker_client, state_client
from confrec.worker.exitcodes import ExitCode
from confrec.worker.producing import create_conferences, create_ledger

UNVERIFIED = (
    "confrec serve is answering Telnyx's webhooks 503: it has no TELNYX_PUBLIC_KEY to verify "
    "them with. Set it and restart serve; Telnyx retries its webhooks for a while, and "
    "reconciliation finds the recordings a grace after their conference ended"
)


@dataclass(frozen=True)
class BulkResult:
    code: ExitCode
    missing: int = 0
    """Outcomes not seen in time."""
    unsaved: int = 0
    """With recordings followed: started jobs whose recording was still pending."""
    states: dict[str, int] | None = None
    """With recordings followed: started jobs by recording state."""


@dataclass(frozen=True)
class Waited:
    """What the watch saw of a batch by the time it ended."""

    batch: str
    enqueued: int
    timeout_s: float
    tally: Tally
    failed_rows: tuple[Failure, ...] = ()
    """Each failed job, placed (its line), in batch order."""

    @property
    def missing(self) -> int:
        return self.enqueued - self.tally.done

    @property
    def unsaved(self) -> int:
        """Started jobs whose recording is still pending (0 when not followed)."""
        return len(self.tally.unsettled) if self.tally.started is not None else 0

    @property
    def settled_unsaved(self) -> int:
        """Started jobs Telnyx did not save, or whose recording cannot be told."""
        return sum(self.tally.count(s) for s in ("not_saved", "unknown", "ambiguous"))

    def as_dict(self) -> dict[str, object]:
        return self.tally.as_dict() | {
            "batch": self.batch,
            "enqueued": self.enqueued,
            "complete": self.missing == 0 and self.unsaved == 0,
            "missing": self.missing,
            "timeout_s": self.timeout_s,
            "failed_rows": [f.as_dict() for f in self.failed_rows],
        }


class BatchWatch:
    def __init__(self, settings: Settings, out: Console, err: Console) -> None:
        state = self.state = state_client(settings)
        self.settings = settings
        self.stream = ResultsStream(state, settings.results_stream)
        self.ledger = create_ledger(settings, state)
        self.conferences = create_conferences(settings, state)
        self.out = out
        self.err = err

    def mark(self) -> str:
        """Where the results stream ends: call before enqueueing, and the watch sees every
        outcome of the batch and no older one (raises ``redis.RedisError``)."""
        return self.stream.last_id()

    def follow(
        self,
        batch: str,
        total: int,
        mark: str,
        *,
        wait_timeout: float | None = None,
        until_saved: bool = False,
        as_json: bool = False,
        lines: array[int] | None = None,
    ) -> BulkResult:
        """Wait for the batch's ``total`` outcomes within ``wait_timeout`` (default:
        ``default_wait_timeout``); with ``until_saved`` then until each started job's
        recording state is settled, within what is left of ``wait_timeout`` (default:
        CONFREC_RECORDING_GRACE_S + ``RECORDINGS_WAIT_S`` more). Prints the summary; the
        code says how it ended. ``lines``: the file's line of each job, by its place in
        the batch, for the failed rows."""
        timeout = (
            default_wait_timeout(total, self.settings) if wait_timeout is None else wait_timeout
        )
        self.err.print(f"waiting up to {seconds(timeout)} for {total} outcomes", highlight=False)
        began = time.monotonic()
        tally = Tally(started=set()) if until_saved else Tally()
        try:
            self._outcomes(batch, total, mark, timeout, tally)
            if until_saved and tally.done == total:
                spent = time.monotonic() - began
                default = self.settings.recording_grace_s + RECORDINGS_WAIT_S
                left = default if wait_timeout is None else max(timeout - spent, 0.0)
                self._saved(tally, left)
            rows = tuple(placed(self.state, tally.failures, lines))
        except redis.RedisError as exc:
            self._error(
                f"redis {self.settings.safe_state_url} failed while waiting: "
                f"{str(exc).rstrip('. ')}. "
                f"All {total} jobs were enqueued (batch {batch})."
            )
            return BulkResult(ExitCode.BROKER)
        return self._report(Waited(batch, total, timeout, tally, rows), as_json)

    def _outcomes(self, batch: str, total: int, start: str, timeout: float, tally: Tally) -> None:
        with progress_bar(self.err) as progress:
            bar = progress.add_task("outcomes", total=total, status="")
            started = time.monotonic()
            broker = broker_client(self.settings) if self.settings.broker_is_redis else None
            stall = StallWatch(self.settings, self.state, broker, batch)

            def quiet() -> None:
                line = stall.check()
                if line is not None:
                    progress.console.print(f"waiting: {line}", highlight=False, markup=False)

            def seen(_: Outcome, tally: Tally) -> None:
                stall.outcome()
                rate = tally.done / max(time.monotonic() - started, 1e-3)
                progress.update(
                    bar,
                    completed=tally.done,
                    status=(
                        f"ok {tally.done - tally.failed - tally.already_done}  "
                        f"already done {tally.already_done}  failed {tally.failed}  "
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
                on_idle=quiet,
            )

    def _saved(self, tally: Tally, timeout: float) -> None:
        started = len(tally.started or ())
        self.err.print(
            f"waiting up to {seconds(timeout)} for the recordings of {started} started jobs",
            highlight=False,
        )
        with progress_bar(self.err) as progress:
            bar = progress.add_task("recordings", total=started, status="")

            warned: list[bool] = []

            def seen(tally: Tally) -> None:
                status = "  ".join(f"{s} {tally.count(s)}" for s in RECORDING_STATES[:-1])
                progress.update(bar, completed=started - len(tally.unsettled), status=status)
                if not warned and tally.unsettled and self.conferences.webhooks_unverifiable():
                    warned.append(True)  # at once: the wait may be long, and this is why
                    progress.console.print(f"warning: {UNVERIFIED}", highlight=False)

            def states(job_ids: list[str]) -> dict[str, str | None]:
                return dict(recording_states(self.ledger, self.conferences, job_ids))

            wait_for_recordings(states, tally, timeout_s=timeout, on_state=seen)

    def _report(self, waited: Waited, as_json: bool) -> BulkResult:
        tally = waited.tally
        if as_json:
            print(json.dumps(waited.as_dict()))
        else:
            self.out.print(summary_table(tally))
            if tally.already_done:
                print(
                    f"already done {tally.already_done}: their command_id had already started "
                    "a recording (a re-run with the same --batch-key, or a repeated row); "
                    f"nothing was sent again (the '{ALREADY_DONE}' row)"
                )
            if waited.failed_rows:
                print(f"failed {len(waited.failed_rows)}:")
                for row in waited.failed_rows:
                    print(f"  {row.text()}")
            print(f"batch {waited.batch}")
            if tally.started is not None:
                print(recordings_line(tally))
        if waited.missing:
            self._error(
                f"timed out after {seconds(waited.timeout_s)}: {waited.missing} of "
                f"{waited.enqueued} "
                f"outcomes missing (batch {waited.batch}); those jobs may still be queued or "
                "running"
            )
            return BulkResult(ExitCode.TIMED_OUT, waited.missing)
        states = {s: tally.count(s) for s in RECORDING_STATES}
        problem = self._recordings_problem(waited)
        if problem is not None:
            code, message = problem
            self._error(message)
            return BulkResult(code, unsaved=waited.unsaved, states=states)
        code = ExitCode.JOB_FAILED if tally.failed else ExitCode.OK
        return BulkResult(code, states=states if tally.started is not None else None)

    def _recordings_problem(self, waited: Waited) -> tuple[ExitCode, str] | None:
        """Why the recordings did not all end saved: the exit code and the line."""
        started, batch = len(waited.tally.started or ()), waited.batch
        if waited.unsaved and self.conferences.webhooks_unverifiable():
            return ExitCode.WEBHOOKS_UNVERIFIED, (
                f"{waited.unsaved} started recordings still pending, and {UNVERIFIED}"
            )
        if waited.unsaved:
            return ExitCode.TIMED_OUT, (
                f"{waited.unsaved} of {started} started recordings still pending after "
                f"{seconds(waited.timeout_s)} (batch {batch}); Telnyx saves a recording when "
                "its conference ends or recording stops: see `confrec status JOB_ID` later"
            )
        if waited.settled_unsaved:
            return ExitCode.NOT_SAVED, (
                f"{waited.settled_unsaved} of {started} started recordings not saved, "
                f"unknown or ambiguous (batch {batch}): `confrec status JOB_ID` says why"
            )
        return None

    def _error(self, message: str) -> None:
        self.err.print(f"error: {message}", highlight=False, markup=False)


def recordings_line(tally: Tally) -> str:
    """started / saved / not saved / unknown / ambiguous / pending, in one line."""
    counts = ", ".join(f"{tally.count(s)} {s.replace('_', ' ')}" for s in RECORDING_STATES)
    return f"recordings: {len(tally.started or ())} started, {counts}"


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
