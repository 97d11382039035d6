"""``confrec batch [ID] [--failed] [--not-saved] [--json]``: a batch from the shell.

No ID: the newest batches, one line each. An ID: its counts (the same JSON as ``GET
/v1/batches/{id}``); ``--failed`` adds a line per failed job (job id, conference, reason,
HTTP status, Telnyx's codes and titles), ``--not-saved`` one per job whose recording
Telnyx did not save (job id, conference, why). The CLI reads Redis as ``confrec status``
does and sees every batch, whoever enqueued it.

Exit codes: 0 when the batch is shown — whatever its jobs' outcomes (a script reads
``--json``; ``bulk --wait`` is the command whose exit says whether jobs failed); 2
invalid input; 3 Redis did not answer; 5 (``UNKNOWN_JOB``) no such batch (or it expired
with its jobs).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from confrec.worker.cli.output import fail, load_settings
from confrec.worker.exitcodes import ExitCode


def batch(
    batch_id: Annotated[
        str | None,
        typer.Argument(help="A batch id (bulk and POST /v1/jobs/bulk print it); none: the newest."),
    ] = None,
    rest: Annotated[str | None, typer.Argument(hidden=True)] = None,
    failed: Annotated[bool, typer.Option("--failed", help="List its failed jobs.")] = False,
    not_saved: Annotated[
        bool, typer.Option("--not-saved", help="List its jobs whose recording was not saved.")
    ] = False,
    count: Annotated[int, typer.Option(min=1, max=200, help="Without an ID: how many.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A batch's counts by state, outcome and recording, and its failed or not-saved jobs;
    ``confrec batch retry ID`` sends again its jobs that certainly started nothing."""
    if batch_id == "retry":
        if rest is None:
            fail("confrec batch retry needs a batch ID")
        from confrec.worker.cli.batch_retry import retry_command

        retry_command(rest, as_json)
        return
    if rest is not None:
        fail(f"unexpected argument {rest!r}")
    if batch_id is None and (failed or not_saved):
        fail("--failed and --not-saved need a batch ID")
    import redis

    from confrec.tasks.batch_listing import BatchReader
    from confrec.tasks.store.batches import BatchStore
    from confrec.worker.broker.clients import state_client
    from confrec.worker.producing import create_conferences, create_ledger

    settings = load_settings()
    client = state_client(settings)
    store = BatchStore(client)
    reader = BatchReader(
        store, create_ledger(settings, client), create_conferences(settings, client)
    )
    try:
        if batch_id is None:
            newest(store, count, as_json)
            return
        summary = store.summary(batch_id)
        if summary is None:
            fail(
                f"no batch {batch_id} (unknown, or older than its jobs' TTL)", ExitCode.UNKNOWN_JOB
            )
        doc = summary.as_dict() | {"principal": summary.principal}
        lists = [name for name, asked in (("failed", failed), ("not_saved", not_saved)) if asked]
        for name in lists:
            doc[name] = reader.every(batch_id, name)
    except redis.RedisError as exc:
        fail(f"redis {settings.safe_state_url}: {exc}", ExitCode.BROKER)
    if as_json:
        print(json.dumps(doc))
        return
    for line in summary_lines(doc):
        print(line)
    for name in lists:
        print(f"{name} {len(doc[name])}")
        for item in doc[name]:
            print("  " + job_line(item, name))


def newest(store: Any, count: int, as_json: bool) -> None:
    """The newest ``count`` batches (every principal's), newest first."""
    page = store.batches(None, limit=count)
    found = store.summaries(page.items)
    if as_json:
        print(json.dumps({"batches": [s.as_dict() for s in found], "cursor": page.cursor}))
        return
    if not found:
        print("no batches")
    for summary in found:
        doc = summary.as_dict()
        states, statuses = doc["states"], doc["statuses"]
        print(
            f"{doc['batch']}  {doc['created_at']}  {states['finished']}/{doc['total']} finished"
            f"  succeeded {statuses['succeeded']}  failed {statuses['failed']}"
            f"  saved {doc['recordings']['saved']}  by {summary.principal or '-'}"
        )


def summary_lines(doc: dict[str, Any]) -> list[str]:
    """A batch's counts, one group per line, "name  value": greppable."""

    def counts(group: dict[str, int]) -> str:
        return "  ".join(f"{name} {n}" for name, n in group.items())

    return [
        f"batch         {doc['batch']}",
        f"created_at    {doc['created_at']}",
        f"batch_key     {doc['batch_key'] or '-'}",
        f"principal     {doc['principal'] or '-'}",
        f"total         {doc['total']}",
        f"in_flight     {'yes' if doc['in_flight'] else 'no'}",
        f"states        {counts(doc['states'])}",
        f"statuses      {counts(doc['statuses'])}",
        f"reasons       {counts(doc['reasons'])}",
        f"already_done  {doc['already_done']}",
        f"recordings    {counts(doc['recordings'])}",
    ]


def job_line(item: dict[str, Any], list_name: str) -> str:
    """One job of ``--failed`` (id, conference, reason, HTTP status, Telnyx's codes and
    titles or the detail) or ``--not-saved`` (id, conference, the recording's reason)."""
    start = f"{item['job_id']}  {item['conference_id']!r}"
    if list_name == "not_saved":
        return f"{start}  {item['recording_state']}  {item['recording_reason'] or ''}".rstrip()
    http = item["http_status"] if item["http_status"] is not None else "-"
    why = "; ".join(f"{e['code']} {e['title']}" for e in item["errors"]) or item["detail"] or ""
    return f"{start}  {item['reason']}  http={http}  {why}".rstrip()
