"""Messages set aside: what reached the job queue and is not a job, kept for an operator.

A message with no usable task id, one that names another task, or one whose envelope
kombu cannot parse cannot have an outcome (there is no job to give it to), and must not
stop a worker or be dropped without a trace. It goes to the list
``keys.UNDELIVERABLE`` — newest first, at most ``keys.UNDELIVERABLE_CAP`` entries, the whole
list expiring ``keys.UNDELIVERABLE_TTL_S`` after the last one — and is counted in
``confrec_messages_set_aside_total``.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from confrec.tasks import metrics
from confrec.tasks.store import keys

#: Bytes of a message's body kept (it is evidence, not something to run).
BODY_KEPT = 64 * 1024


def add(pipe: Any, item: bytes | str) -> None:
    """Queue the commands that keep ``item`` on ``pipe`` (a pipeline the caller runs,
    so the reliable fetch takes it off its in-flight list in the same transaction)."""
    pipe.lpush(keys.UNDELIVERABLE, item)
    pipe.ltrim(keys.UNDELIVERABLE, 0, keys.UNDELIVERABLE_CAP - 1)
    pipe.expire(keys.UNDELIVERABLE, keys.UNDELIVERABLE_TTL_S)


def entry(reason: str, queue: str, headers: Any, body: bytes | str | None) -> str:
    """A message the consumer sets aside, as JSON: why, from which queue, its headers
    (as text) and the start of its body (escaped, ASCII only)."""
    raw = body.decode("utf-8", "backslashreplace") if isinstance(body, bytes) else body or ""
    return json.dumps(
        {
            "reason": reason,
            "queue": queue,
            "headers": repr(headers)[:BODY_KEPT],
            "body": raw[:BODY_KEPT],
        },
        ensure_ascii=True,
    )


def keep(client: redis.Redis, item: bytes | str, reason: str) -> None:
    """Set one message aside and count it."""
    with client.pipeline() as pipe:
        add(pipe, item)
        pipe.execute()
    counted(reason)


def counted(reason: str) -> None:
    """Count one message set aside (``reason``: one of a few fixed words)."""
    metrics.MESSAGES_SET_ASIDE.labels(reason).inc()
