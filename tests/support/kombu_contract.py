"""The kombu contract tests' common parts: where a failure points (the transport, and
docs/installing.md), an attribute found by its "module:qualified.name", and the function
behind a method."""

from __future__ import annotations

import inspect
from typing import Any

WHERE = "confrec's reliable fetch, worker/broker/transport.py"
HOWTO = "see docs/installing.md, 'When kombu changes'"


def resolve(path: str) -> Any:
    module_name, _, qualified = path.partition(":")
    found: Any = __import__(module_name, fromlist=["_"])
    for part in qualified.split("."):
        found = inspect.getattr_static(found, part)
    return found


def callable_of(attribute: Any) -> Any:
    """The function behind a method, classmethod or staticmethod (None for data)."""
    if isinstance(attribute, classmethod | staticmethod):
        return attribute.__func__
    return attribute if inspect.isfunction(attribute) else None
