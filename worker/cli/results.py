"""``confrec results``: the newest outcomes, new ones as they come, or a consumer group's
share, acknowledged once shown; and a warning, once, on stderr when the stream was trimmed
past what this reader had not read yet (``confrec.tasks.store.stream_lag``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from confrec.worker.cli.output import fail, load_settings
from confrec.worker.exitcodes import ExitCode

if TYPE_CHECKING:
    from confrec.tasks.store.streams import ResultsStream, StreamEntry

TRIMMED = "(CONFREC_RESULTS_RETENTION_S, CONFREC_RESULTS_MAXLEN)"


def results(
    follow: Annotated[bool, typer.Option(help="Keep printing new outcomes.")] = False,
    count: Annotated[int, typer.Option(min=1, help="How many to show (per read).")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON outcome per line.")] = False,
    group: Annotated[
        str | None,
        typer.Option(help="Read as this consumer group: only unseen outcomes, acknowledged."),
    ] = None,
    reclaim_idle: Annotated[
        float,
        typer.Option(
            min=0,
            help="With --group: first take over outcomes another consumer read but left "
            "unacknowledged this many seconds (it crashed).",
        ),
    ] = 60.0,
) -> None:
    """Show the newest outcomes, or with --group the ones that group has not handled yet."""
    import redis

    from confrec.tasks.status import recording_states
    from confrec.tasks.store.streams import ResultsStream
    from confrec.worker.batches.report import outcome_line
    from confrec.worker.broker.clients import state_client
    from confrec.worker.producing import create_conferences, create_ledger

    def show(entries: list[StreamEntry]) -> None:
        started = [e.outcome.job_id for e in entries if e.outcome.status == "succeeded"]
        states = recording_states(ledger, conferences, started)
        for entry in entries:
            line = outcome_line(entry.outcome, as_json, states.get(entry.outcome.job_id))
            print(line, flush=True)

    settings = load_settings()
    client = state_client(settings)
    stream = ResultsStream(client, settings.results_stream)
    ledger, conferences = create_ledger(settings, client), create_conferences(settings, client)
    try:
        if group:
            consume_group(
                stream, group, show, count=count, follow=follow, reclaim_idle_s=reclaim_idle
            )
        else:
            entries = stream.latest(count)
            show(entries)
            if follow:
                after = entries[-1].entry_id if entries else stream.last_id()
                warn, checked = once(), 0.0
                for new in stream.follow(after):
                    if new is None:
                        continue
                    if time.monotonic() - checked > 1:  # at most one look a second
                        checked = time.monotonic()
                        if stream.trimmed_past(after):
                            warn(f"warning: outcomes after {after} may be trimmed unread {TRIMMED}")
                    show([new])
                    after = new.entry_id
    except redis.RedisError as exc:
        fail(f"redis {settings.safe_state_url}: {exc}", ExitCode.BROKER)
    except KeyboardInterrupt:
        pass


def consume_group(
    stream: ResultsStream,
    group: str,
    show: Callable[[list[StreamEntry]], None],
    *,
    count: int,
    follow: bool,
    reclaim_idle_s: float,
) -> None:
    """Entries crashed consumers left pending first, then new ones; each is acknowledged
    only once shown, so a crash in between leaves it for the next reclaim. Before each
    read, the group's loss to trimming is checked: warned of once."""
    import os
    import socket

    from confrec.tasks.store.stream_lag import group_lags

    stream.ensure_group(group)
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    warn = once()

    def handle(entries: list[StreamEntry]) -> None:
        show(entries)
        stream.ack(group, [e.entry_id for e in entries])

    while True:
        for lag in group_lags(stream.client, stream.stream):
            if lag.group == group and lag.lost:
                warn(
                    f"warning: consumer group {group} lost {lag.lost} outcome(s), trimmed "
                    f"from the stream before it read them {TRIMMED}"
                )
        handle(stream.reclaim(group, consumer, int(reclaim_idle_s * 1000), count))
        handle(stream.read_group(group, consumer, count=count, block_ms=1000 if follow else None))
        if not follow:
            return


def once() -> Callable[[str], None]:
    """A line on stderr, the first time only."""
    said: list[str] = []

    def warn(text: str) -> None:
        if not said:
            said.append(text)
            print(text, file=sys.stderr, flush=True)

    return warn
