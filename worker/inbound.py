"""What a message on the job queue is, judged before Celery's strategy or a log line sees it.

Other services publish to the queue directly (``send_task``, or a raw producer), so a
message may be anything: a body that is not JSON, another content type, wrong shapes, an
id with a newline or a space in it. Celery would crash the consumer on some of these and
drop others without a word; here each one is classified instead (pure: no broker, no
Redis), and ``confrec.worker.consumer`` acts on the answer: a message that names the task
and has an id gets exactly one ``invalid`` outcome, anything else is set aside.

A task id is used as the job id only when it matches ``TASK_ID``; any other id is
replaced by ``hashed:`` + the first 32 hex digits of the SHA-256 of its UTF-8 bytes
(lone surrogates passed through), so redeliveries of the same message meet the same
job, and the raw id travels JSON-escaped, ASCII only, in ``raw_job_id``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from confrec.tasks.job import TASK_NAME

TASK_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
HASHED_PREFIX = "hashed:"
#: Characters of a raw id kept in ``raw_job_id`` (before escaping).
RAW_ID_KEPT = 256
JSON = "application/json"
#: Why a message was set aside: headers not a map, another task (or none), no id, Celery
#: refused even its empty job; the reliable fetch adds ``envelope`` (kombu could not parse
#: the message at all).
SET_ASIDE = ("headers", "other_task", "no_id", "refused", "envelope")


@dataclass(frozen=True)
class Inbound:
    """One message, judged."""

    job_id: str | None
    """The id its outcome goes under; None: it is not a job, set aside for ``problem``
    (then one of ``SET_ASIDE``, a metric label)."""
    raw_job_id: str | None = None
    """The message's own id, escaped, when ``job_id`` was derived from it."""
    problem: str | None = None
    """Why it cannot run (its outcome is ``invalid``); None when it can."""
    body: tuple[list[Any], dict[str, Any], dict[str, Any]] | None = None
    """The decoded ``[args, kwargs, embed]`` when there is no problem."""
    protocol_1: bool = False
    """Celery's message protocol 1 (task and id in the body), rewritten to protocol 2."""


def escaped(raw: str) -> str:
    """``raw`` as JSON would write it inside quotes, ASCII only: no newline, no control
    character, no lone surrogate survives; cut to ``RAW_ID_KEPT`` characters."""
    cut = raw[:RAW_ID_KEPT]
    return json.dumps(cut, ensure_ascii=True)[1:-1] + ("..." if len(raw) > len(cut) else "")


def job_id_for(raw: object) -> tuple[str | None, str | None]:
    """(the job id, the escaped raw id when the id had to be derived); (None, None) when
    the message has no id at all."""
    if not isinstance(raw, str) or not raw:
        return None, None
    if TASK_ID.fullmatch(raw):
        return raw, None
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return HASHED_PREFIX + digest, escaped(raw)


def judge(message: Any) -> Inbound:
    """Classify a kombu message of the job queue (a body with ``unreadable``: the
    reliable fetch could not decode it, e.g. not base64)."""
    headers = message.headers
    if not isinstance(headers, dict):
        return Inbound(None, problem="headers")
    problem: str | None = getattr(message.body, "unreadable", None)
    body: Any = None
    if problem is None:
        if message.content_type != JSON:
            problem = f"content type is not {JSON}"
        else:
            try:
                body = message.decode()
            except Exception:  # any decoder failure: depth, huge numbers, bad UTF-8
                problem = "body is not valid JSON"
    protocol_1 = "task" not in headers
    source = body if protocol_1 and isinstance(body, dict) else headers
    if source.get("task") != TASK_NAME:
        return Inbound(None, problem="other_task")
    job_id, raw_job_id = job_id_for(source.get("id"))
    if job_id is None:
        return Inbound(None, problem="no_id")
    if problem is None:
        problem, body = _shape(body, protocol_1)
    return Inbound(job_id, raw_job_id, problem, None if problem else body, protocol_1)


def _shape(body: Any, protocol_1: bool) -> tuple[str | None, Any]:
    """(a problem, or None and the body as ``(args, kwargs, embed)``)."""
    if protocol_1:
        body = [body.get("args", []), body.get("kwargs", {}), {}]
    if not isinstance(body, list | tuple) or len(body) != 3:
        return "body is not [args, kwargs, embed]", None
    args, kwargs, embed = body
    if not isinstance(args, list | tuple):
        return "args is not an array", None
    if not isinstance(kwargs, dict):
        return "kwargs is not an object", None
    if embed is not None and not isinstance(embed, dict):
        return "embed is not an object", None
    return None, (list(args), kwargs, embed or {})
