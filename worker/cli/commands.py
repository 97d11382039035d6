"""The ``confrec`` command: thin — parse, call the same functions as the Python API, print.

Here: the worker and the job commands (enqueue, bulk, status, stats); ``results`` is in
``results``, the commands that run a part of the system (simulate, serve, flower, demo)
in ``processes``. Exit codes: ``confrec.worker.exitcodes.ExitCode``.

Ids and JSON go out with plain ``print``: one line each, never wrapped, never markup.
Settings are loaded before anything imports ``confrec.worker.app``, so a bad configuration is one
line naming the variable, not a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from pydantic import ValidationError

from confrec.config.settings import MISSING_API_KEY
from confrec.tasks.job import RecordStartJob
from confrec.worker import supervisor
from confrec.worker.cli import batch, output, processes, reconcile, recordings, results
from confrec.worker.cli.output import err, fail, load_settings, out, validation_failure
from confrec.worker.exitcodes import ExitCode

cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # rich tracebacks print locals, which may hold secrets
    help="Start Telnyx conference recordings at scale.",
)
#: Commands whose further options go to Celery or Flower.
PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@cli.command(context_settings=PASSTHROUGH, add_help_option=False)
def worker(ctx: typer.Context) -> None:
    """Start a worker; any further options go to ``celery worker`` (e.g. --concurrency 8)."""
    output.help_if_asked(ctx.args, output.worker_help)  # needs no settings
    settings = load_settings()
    if settings.telnyx_api_key is None:
        fail(MISSING_API_KEY)
    supervisor.die_with_parent()
    if settings.metrics_port is not None:  # before the app imports prometheus_client
        from confrec.worker.metrics_server import serve_worker_metrics

        try:
            serve_worker_metrics(settings, settings.metrics_port)
        except OSError as exc:
            output.listen_failure(
                exc, settings.metrics_host, settings.metrics_port, "CONFREC_METRICS_PORT"
            )
    pool = supervisor.option(ctx.args, "--pool", "-P") or settings.pool
    count = supervisor.process_count(settings.worker_processes, pool)
    if count > 1:  # the children count into this process's metrics (multiprocess mode)
        env = {k: v for k, v in os.environ.items() if k != "CONFREC_METRICS_PORT"}
        command = [sys.executable, "-m", "confrec.worker.cli", "worker"]
        raise typer.Exit(supervisor.Supervisor(command, count, env).run(ctx.args))
    from confrec.worker.app import create_app, worker_queues

    # Settings' pool first: an explicit --pool/--concurrency later in argv wins.
    argv = ["worker", "--queues", ",".join(worker_queues(settings)), "--pool", settings.pool]
    argv += ["--concurrency", str(settings.concurrency)]
    if not any(a.startswith(("-l", "--loglevel")) for a in ctx.args):
        argv += ["--loglevel", "INFO"]
    try:
        create_app(settings).worker_main(argv + list(ctx.args))
    except click.ClickException as exc:  # Celery's own options parsed: a user's mistake
        fail(f"confrec worker: {exc.format_message()} (confrec worker --help lists them)")


@cli.command()
def enqueue(
    conference_id: Annotated[str, typer.Argument(help="Conference id or name.")],
    format: Annotated[str, typer.Option("--format", help="wav or mp3.")],
    channels: Annotated[str | None, typer.Option(help="single or dual.")] = None,
    play_beep: Annotated[bool | None, typer.Option("--play-beep/--no-play-beep")] = None,
    trim: Annotated[str | None, typer.Option(help="trim-silence.")] = None,
    custom_file_name: Annotated[str | None, typer.Option(help="1-40 characters.")] = None,
    region: Annotated[str | None, typer.Option(help="Australia, Europe, Middle East, US.")] = None,
    command_id: Annotated[str | None, typer.Option(help="Fixed here if not given.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Enqueue one record-start job; prints its job id and command_id."""
    fields: dict[str, Any] = {
        "conference_id": conference_id,
        "format": format,
        "channels": channels,
        "play_beep": play_beep,
        "trim": trim,
        "custom_file_name": custom_file_name,
        "region": region,
        "command_id": command_id,
    }
    try:
        job = RecordStartJob.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        validation_failure(exc)
    settings = load_settings()
    from confrec.tasks.publishing.producer import EnqueueError
    from confrec.worker.producing import create_producer

    try:
        sent = create_producer(settings).enqueue(job)
    except EnqueueError as exc:
        fail(
            f"broker {settings.safe_broker_url} unreachable, nothing enqueued: {exc}",
            ExitCode.BROKER,
        )
    if as_json:
        print(json.dumps({"job_id": sent.job_id, "command_id": sent.command_id}))
    else:
        print(f"job_id {sent.job_id} command_id {sent.command_id}")


@cli.command()
def bulk(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL or CSV.")],
    wait: Annotated[bool, typer.Option(help="Wait for every outcome, then summarize.")] = False,
    batch_key: Annotated[
        str | None, typer.Option(help="Derive missing command_ids from this key and the row.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="With --wait: give up after this many seconds (exit 4). Default: derived "
            "from the job count and the retry/redelivery settings.",
        ),
    ] = None,
    until_saved: Annotated[
        bool,
        typer.Option(
            help="Implies --wait; then wait for each started recording's "
            "conference.recording.saved webhook (needs confrec serve receiving Telnyx's "
            "webhooks) and add a 'recordings saved' column. Without --timeout: 600 s more.",
        ),
    ] = False,
) -> None:
    """Validate every row of FILE, then enqueue them all (or nothing if a row is bad)."""
    settings = load_settings()
    from confrec.worker.batches.bulkrun import run_bulk

    result = run_bulk(
        file,
        settings,
        wait=wait,
        batch_key=batch_key,
        as_json=as_json,
        wait_timeout=timeout,
        until_saved=until_saved,
        out=out,
        err=err,
    )
    raise typer.Exit(result.code)


@cli.command()
def status(
    job_id: Annotated[str, typer.Argument(help="The job id enqueue, bulk or the API printed.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A job's state (queued, running, finished), its outcome and its saved recordings."""
    import redis

    from confrec.tasks.status import job_status
    from confrec.worker.batches.report import status_lines
    from confrec.worker.broker.clients import state_client
    from confrec.worker.producing import create_conferences, create_ledger

    settings = load_settings()
    client = state_client(settings)
    try:
        found = job_status(
            create_ledger(settings, client), create_conferences(settings, client), job_id
        )
    except redis.RedisError as exc:
        fail(f"redis {settings.safe_state_url}: {exc}", ExitCode.BROKER)
    if found is None:
        fail(f"no job {job_id} (unknown, or older than CONFREC_DONE_TTL)", ExitCode.UNKNOWN_JOB)
    if as_json:
        print(json.dumps(found.as_dict()))
    else:
        for line in status_lines(found):
            print(line)


@cli.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    window: Annotated[int, typer.Option(min=1, help="Count outcomes of this many seconds.")] = 3600,
) -> None:
    """Queue depth, jobs in flight, outcomes of the last hour, rate-limit state."""
    import redis

    from confrec.worker.broker.clients import broker_client, state_client
    from confrec.worker.cli.stats import collect, render

    settings = load_settings()
    if not settings.broker_is_redis:
        fail("confrec stats reads the queue from a Redis broker; CONFREC_BROKER_URL is not one")
    broker, state = broker_client(settings), state_client(settings)
    try:
        snapshot = collect(broker, state, settings, window_s=window)
    except redis.RedisError as exc:
        fail(f"broker {settings.safe_broker_url}: {exc}", ExitCode.BROKER)
    if as_json:
        print(json.dumps(snapshot.as_dict()))
    else:
        out.print(render(snapshot))


cli.command()(results.results)
cli.command()(processes.simulate)
cli.command()(processes.serve)
cli.command()(processes.demo)
cli.command(context_settings=PASSTHROUGH, add_help_option=False)(processes.flower)
cli.add_typer(recordings.recordings, name="recordings")
cli.command()(reconcile.reconcile)
cli.command()(batch.batch)


def main() -> None:
    cli(prog_name="confrec")
