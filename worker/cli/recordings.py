"""``confrec recordings``: the saved recordings' files.

``download`` runs where ``TELNYX_API_KEY`` is (like a worker): it finds the recordings of a
job or a batch in Redis, asks Telnyx for a fresh link to each (a stored one lives 10
minutes) and downloads them (``confrec.worker.downloads``). docs/recordings.md,
"Downloading recordings", has the file names and exit codes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from confrec.config.settings import Settings
from confrec.worker.cli.output import err, fail, load_settings
from confrec.worker.exitcodes import ExitCode

if TYPE_CHECKING:
    import redis

    from confrec.tasks.status import JobStatus
    from confrec.worker.downloads.plan import Plan
    from confrec.worker.downloads.runner import Report

recordings = typer.Typer(
    no_args_is_help=True,
    help="The saved recordings' files: download them with fresh links from Telnyx.",
)

MISSING_KEY = "TELNYX_API_KEY is not set; downloads ask Telnyx for fresh links with it"


DOWNLOAD_HELP = (
    "Download the recordings of --job J or --batch B into "
    "DIR/<conference>/<recording_id>.<format>, each with a fresh link from Telnyx. "
    "A file gets its name only once complete; one already there at its full size is "
    "skipped; an interrupted one is resumed. Exit 0: every recording is there; 7: some "
    "failed (one line each); 5: no such job or batch. Needs TELNYX_API_KEY."
)


@recordings.command(
    help=DOWNLOAD_HELP, short_help="Download a job's or a batch's recordings, with fresh links."
)
def download(
    dest: Annotated[
        Path,
        typer.Argument(
            file_okay=False, metavar="DIR", help="Folder for the files (made if missing)."
        ),
    ],
    job: Annotated[str | None, typer.Option("--job", help="One job's recordings.")] = None,
    batch: Annotated[
        str | None, typer.Option("--batch", help="Every recording of a batch's jobs.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Downloads at once.")] = 4,
    file_timeout: Annotated[
        float,
        typer.Option(min=1, help="Give up on a file after this many seconds, all tries included."),
    ] = 1800.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Download the recordings of --job J or --batch B (help: ``DOWNLOAD_HELP``)."""
    if (job is None) == (batch is None):
        fail("give exactly one of --job J or --batch B")
    settings = load_settings()
    if settings.telnyx_api_key is None:
        fail(MISSING_KEY)
    from confrec.worker.downloads.plan import plan

    found = plan(_statuses(settings, job, batch))
    if found.wanted:
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"{dest}: cannot make the folder: {exc.strerror or exc}")
    report = _download(settings, found, dest, concurrency, file_timeout)
    from confrec.worker.downloads.runner import as_json as report_json
    from confrec.worker.downloads.runner import summary

    if as_json:
        print(json.dumps(report_json(report, dest) | {"without_recording": found.without}))
    else:
        for line in _without_lines(found, one_job=job is not None):
            print(line)
        print(summary(report, dest))
    raise typer.Exit(report.code)


def _statuses(settings: Settings, job: str | None, batch: str | None) -> list[JobStatus]:
    """The job's status, or the batch's jobs' (exit 5 when unknown, 3 when Redis fails)."""
    import redis

    from confrec.tasks.store.streams import ResultsStream
    from confrec.worker.broker.clients import state_client
    from confrec.worker.downloads.plan import statuses

    client = state_client(settings)
    read = _reader(settings, client)
    try:
        if job is not None:
            one = read(job)
            if one is None:
                fail(
                    f"no job {job} (unknown, or older than CONFREC_DONE_TTL)", ExitCode.UNKNOWN_JOB
                )
            return [one]
        assert batch is not None
        ids = ResultsStream(client, settings.results_stream).batch_jobs(batch)
        if not ids:
            fail(f"no outcome of batch {batch} in {settings.results_stream}", ExitCode.UNKNOWN_JOB)
        return list(statuses(ids, read))
    except redis.RedisError as exc:
        fail(f"redis {settings.safe_state_url}: {exc}", ExitCode.BROKER)


def _reader(settings: Settings, client: redis.Redis) -> Callable[[str], JobStatus | None]:
    """``job_status`` on the stores every command reads (as ``confrec status``)."""
    from confrec.tasks.status import job_status
    from confrec.worker.producing import create_conferences, create_ledger

    ledger, conferences = create_ledger(settings, client), create_conferences(settings, client)
    return lambda job_id: job_status(ledger, conferences, job_id)


def _download(
    settings: Settings, found: Plan, dest: Path, concurrency: int, timeout: float
) -> Report:
    from confrec.tasks.telnyx_api import TelnyxApi
    from confrec.worker.downloads.fetch import Bounds, Fetcher
    from confrec.worker.downloads.links import FreshLinks
    from confrec.worker.downloads.runner import Report, download_all, file_client

    if not found.wanted:
        return Report()
    assert settings.telnyx_api_key is not None
    api = TelnyxApi(
        settings.telnyx_base_url,
        settings.telnyx_api_key,
        timeout=settings.http_timeout,
        connect_timeout=settings.http_connect_timeout,
    )
    http = file_client(
        concurrency, timeout=settings.http_timeout, connect_timeout=settings.http_connect_timeout
    )
    fetcher = Fetcher(http, FreshLinks(api), dest, Bounds(file_timeout_s=timeout))
    try:
        return download_all(fetcher, found.wanted, concurrency=concurrency, console=err)
    except KeyboardInterrupt:
        fail(
            "stopped (Ctrl-C); partial files are kept, run again to resume",
            ExitCode.DOWNLOAD_FAILED,
        )
    finally:
        http.close()
        api.close()


def _without_lines(found: Plan, *, one_job: bool) -> list[str]:
    """Jobs with nothing to download: each named for one job, counted for a batch."""
    if one_job:
        return [
            f"job {job_id}: no recording to download: {why}"
            for job_id, why in found.without.items()
        ]
    counts = found.reasons()
    if not counts:
        return []
    parts = ", ".join(f"{n} {why}" for why, n in counts.most_common())
    return [f"{sum(counts.values())} jobs with no recording to download: {parts}"]
