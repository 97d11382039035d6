"""How ``confrec flower`` shows a job: its conference and its outcome's reason.

Flower's tasks table has fixed columns, and a job's message has kwargs only (its
``args`` are always empty). So, for ``confrec.record_start``, Flower's ``format_task``
hook (``format_job``) fills the ``args`` column with ``conference=<id>``, read from the
kwargs Flower holds, whatever produced the message (confrec, or another service's
``send_task``); and the ``Result`` column with the outcome's reason first: a SUCCESS's
return value (``ok (attempts 1)``) and a FAILURE's ``JobFailed`` text (``rejected: 422
90019 Conference has already ended (attempts 1)``), without the quotes of a repr. The
columns shown by default (``TASKS_COLUMNS``) include both; Flower's own
``--tasks_columns``/``FLOWER_TASKS_COLUMNS`` and a ``format_task`` of its config file
still win. Other tasks are shown as they are.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from confrec.tasks.job import TASK_NAME

#: The tasks table's columns unless the operator chooses (Flower's default lacks args
#: and result, i.e. the conference and the reason).
TASKS_COLUMNS = "name,uuid,state,args,result,received,runtime,worker"
#: The conference in a kwargs repr cut short (Celery's ``saferepr`` of another
#: producer's kwargs stops at 1,024 characters): a Python string literal.
_CONFERENCE = re.compile(r"""['"]conference_id['"]:\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
#: A repr longer than this is not parsed whole (a job's is a few hundred characters).
_MAX_PARSED = 4096
_EMPTY_ARGS = (None, "", "()", "[]")


def _literal(text: str) -> Any:
    """The Python literal ``text`` holds, or None (ast.literal_eval runs no code)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def conference_of(kwargs_repr: str | None) -> str | None:
    """The ``conference_id`` in a job's kwargs as Flower holds them (a repr), or None."""
    if not kwargs_repr:
        return None
    kwargs = _literal(kwargs_repr) if len(kwargs_repr) <= _MAX_PARSED else None
    if isinstance(kwargs, dict):
        value = kwargs.get("conference_id")
        return value if isinstance(value, str) else None
    found = _CONFERENCE.search(kwargs_repr)
    value = _literal(found.group(1)) if found else None
    return value if isinstance(value, str) else None


def reason_text(state: str | None, result: str | None, exception: str | None) -> str | None:
    """What the Result column shows: the return value of a SUCCESS, the text of the
    ``JobFailed`` of a FAILURE, unquoted; None when neither applies."""
    if state == "SUCCESS" and result:
        value = _literal(result)
        return value if isinstance(value, str) else result
    prefix = "JobFailed("
    if state == "FAILURE" and exception and exception.startswith(prefix):
        value = _literal(exception[len(prefix) : -1]) if exception.endswith(")") else None
        return value if isinstance(value, str) else None
    return None


def format_job(task: Any) -> Any:
    """Flower's ``format_task`` hook: ``task`` is Flower's copy of a Celery events task,
    changed here for display only."""
    if getattr(task, "name", None) != TASK_NAME:
        return task
    conference = conference_of(getattr(task, "kwargs", None))
    if conference is not None and getattr(task, "args", None) in _EMPTY_ARGS:
        task.args = f"conference={conference}"
    shown = reason_text(task.state, getattr(task, "result", None), task.exception)
    if shown is not None:
        task.result = shown
    return task
