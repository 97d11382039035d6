"""``confrec batch retry ID [--json]``: send a batch's failed jobs again, those that
certainly started nothing, as a new batch; list the others with the reason
(docs/retry.md). ``retry_command`` is the body; ``confrec batch`` dispatches to it.

Exit codes: 0 when the retry ran (whether or not any job was sent; the uncertain ones are
listed), ``UNKNOWN_JOB`` for an unknown batch, ``BROKER`` when Redis or the broker failed.
"""

from __future__ import annotations

import json

import redis

from confrec.tasks.batch_retry import RetryReport
from confrec.tasks.publishing.producer import EnqueueError
from confrec.worker.broker.clients import state_client
from confrec.worker.cli.output import fail, load_settings
from confrec.worker.exitcodes import ExitCode
from confrec.worker.producing import create_batch_retry


def retry_command(batch_id: str, as_json: bool) -> None:
    """Retry batch ``batch_id`` and print what was sent again and what was not."""
    settings = load_settings()
    retries = create_batch_retry(settings, state_client(settings))
    try:
        plan = retries.plan(batch_id)
        report = retries.enqueue(plan) if plan is not None else None
    except redis.RedisError as exc:
        fail(f"redis {settings.safe_state_url}: {type(exc).__name__}", ExitCode.BROKER)
    except EnqueueError as exc:
        fail(f"the broker failed after {exc.enqueued} jobs were sent again", ExitCode.BROKER)
    if report is None:
        unknown = f"no batch {batch_id} (unknown, or older than CONFREC_DONE_TTL)"
        fail(unknown, ExitCode.UNKNOWN_JOB)
    for line in [json.dumps(report.as_dict())] if as_json else report_lines(report):
        print(line)


def report_lines(report: RetryReport) -> list[str]:
    """One line for the whole, then one per job: ``retried OLD NEW`` or ``uncertain JOB
    REASON`` (greppable, never wrapped)."""
    if report.retry_batch:
        head = (
            f"batch {report.batch_id}: {len(report.retried)} sent again as batch "
            f"{report.retry_batch} (follow it: confrec batch {report.retry_batch}); "
            f"{len(report.uncertain)} uncertain"
        )
    else:
        head = f"batch {report.batch_id}: nothing sent again; {len(report.uncertain)} uncertain"
    lines = [head]
    lines += [f"retried {old} {new}" for old, new in report.retried]
    lines += [f"uncertain {u.job_id} {u.reason}" for u in report.uncertain]
    return lines
