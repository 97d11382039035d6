"""``confrec reconcile``: ask Telnyx now what it has saved for some jobs.

Worker side (it needs ``TELNYX_API_KEY``). For a job, a batch, or every outcome since a
time: resolve the conference names still pending, then for each conference poll its end
and store what Telnyx lists of its recordings, as the workers' reconciler would; a job is
``not_saved`` only once its conference's grace has passed. Prints each job's recording
state. Exit codes: 0; 2 invalid input; 3 Redis; 5 no such job or batch; 10 some
conference could not be reconciled (one line each says why).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from confrec.config.settings import MISSING_API_KEY
from confrec.worker.cli.output import err, fail, load_settings
from confrec.worker.exitcodes import ExitCode


@dataclass
class Run:
    """What reconciling a set of jobs did: per conference, per job, and what failed."""

    conferences: dict[str, dict[str, Any]] = field(default_factory=dict)
    job_conference: dict[str, str | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


#: How far ahead of our clock ``--since`` may be (another host's clock, a time zone).
SINCE_AHEAD_S = 86400.0


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: Unix seconds, or ISO-8601 (UTC when it names no zone); a time from
    1970 on and at most a day ahead, so it makes a results-stream id."""
    try:
        since = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"--since: {text!r} is neither ISO-8601 nor Unix seconds") from exc
        since = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    latest = (time.time() if now is None else now) + SINCE_AHEAD_S
    if not 0 <= since <= latest:  # also false for nan
        raise ValueError(f"--since: {text!r} is not a time from 1970 to a day from now")
    return since


def reconcile_jobs(reconciler: Any, ledger: Any, job_ids: list[str]) -> Run:
    """Resolve pending names, then reconcile each conference once (errors kept, per
    conference, so one failing does not stop the rest)."""
    import httpx

    from confrec.tasks.job import conference_is_name
    from confrec.tasks.reconcile import OutOfBudget
    from confrec.tasks.telnyx_api import TelnyxApiError

    failures = (TelnyxApiError, httpx.HTTPError, OutOfBudget)
    run = Run()
    for job_id in job_ids:
        record = ledger.record(job_id)
        outcome = record.outcome if record else None
        if outcome is not None and outcome.duplicate_of:  # it shows its original's
            record = ledger.record(outcome.duplicate_of)
            job_id = outcome.duplicate_of
        if record is None or record.window is None or not record.conference_id:
            continue
        if record.name_state == "pending":
            try:
                reconciler.resolve_name(job_id)
            except failures as exc:
                run.errors.append(f"job {job_id}: resolving {record.conference_id!r}: {_why(exc)}")
                continue
            record = ledger.record(job_id) or record
        conference_id = record.resolved_id
        if conference_id is None and not conference_is_name(record.conference_id):
            conference_id = record.conference_id
        run.job_conference[job_id] = conference_id
        if conference_id is None or conference_id in run.conferences:
            continue
        try:
            result = reconciler.reconcile_conference(conference_id, final_allowed=True)
        except failures as exc:
            run.errors.append(f"conference {conference_id}: {_why(exc)}")
            run.conferences[conference_id] = {"error": _why(exc)}
            continue
        run.conferences[conference_id] = {
            "ended": result.ended,
            "listed": result.listed,
            "stored": result.stored,
            "final": result.final,
        }
    return run


def _why(exc: Exception) -> str:
    from confrec.tasks.reconcile import OutOfBudget
    from confrec.tasks.telnyx_api import TelnyxApiError

    if isinstance(exc, OutOfBudget):
        return "reconciliation's time or call budget ran out (CONFREC_RECONCILE_RATE); run again"
    if isinstance(exc, TelnyxApiError):
        return str(exc)
    return f"no answer from Telnyx ({type(exc).__name__})"  # its text may hold the URL


def reconcile(
    batch: Annotated[str | None, typer.Option(help="Every job of this batch.")] = None,
    job: Annotated[str | None, typer.Option(help="This job.")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Every job with an outcome since: ISO-8601 or Unix seconds."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per job.")] = False,
) -> None:
    """Ask Telnyx now which recordings it saved for these jobs, store them, and print
    each job's recording state (not_saved only past CONFREC_RECORDING_GRACE_S)."""
    if sum(x is not None for x in (batch, job, since)) != 1:
        fail("give exactly one of --batch, --job, --since")
    start = "-"
    if since is not None:
        try:
            start = f"{int(parse_since(since) * 1000)}-0"
        except ValueError as exc:
            fail(str(exc))
    settings = load_settings()
    if settings.telnyx_api_key is None:
        fail(MISSING_API_KEY)
    import redis

    from confrec.tasks.status import job_status
    from confrec.tasks.store.streams import ResultsStream
    from confrec.worker.broker.clients import state_client
    from confrec.worker.producing import (
        create_conferences,
        create_ledger,
        create_recording_counts,
    )
    from confrec.worker.reconciling import build_reconciler

    client = state_client(settings)
    ledger = create_ledger(settings, client)
    try:
        if job is not None:
            if ledger.record(job) is None:
                fail(
                    f"no job {job} (unknown, or older than CONFREC_DONE_TTL)", ExitCode.UNKNOWN_JOB
                )
            job_ids = [job]
        else:
            stream = ResultsStream(client, settings.results_stream)
            if batch is not None:
                job_ids = stream.batch_jobs(batch)
            else:
                job_ids = list(dict.fromkeys(o.job_id for o in stream.outcomes(start)))
            if batch is not None and not job_ids:
                fail(f"no batch {batch} in the results stream", ExitCode.UNKNOWN_JOB)
        run = reconcile_jobs(build_reconciler(settings, client), ledger, job_ids)
        create_recording_counts(settings, client).drain()  # what it stored, counted now
        conferences = create_conferences(settings, client)
        statuses = [job_status(ledger, conferences, job_id) for job_id in job_ids]
    except redis.RedisError as exc:
        fail(f"redis {settings.safe_state_url}: {exc}", ExitCode.BROKER)
    for status in statuses:
        if status is not None:
            print(_line(status, run, as_json), flush=True)
    for line in run.errors:
        err.print(f"error: {line}", markup=False, highlight=False)
    if run.errors:
        raise typer.Exit(ExitCode.RECONCILE_FAILED)


def _line(status: Any, run: Run, as_json: bool) -> str:
    conference_id = run.job_conference.get(status.job_id)
    reconciled = run.conferences.get(conference_id) if conference_id else None
    if as_json:
        doc = status.as_dict() | {"reconciled_conference": conference_id, "reconciled": reconciled}
        return json.dumps(doc)
    state = status.recording.state or "-"
    reason = f" ({status.recording.reason})" if status.recording.reason else ""
    count = len(status.recording.recordings)
    where = f" conference {conference_id}" if conference_id else ""
    return f"{status.job_id} {state}{reason}{where} recordings {count}"
