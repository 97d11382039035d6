"""Bounded waits for tests: poll with a deadline, fail naming what was awaited."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from confrec.worker.local.processes import StartError
from confrec.worker.local.processes import wait_until as _wait_until

T = TypeVar("T")


def poll(
    read: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float,
    what: str,
    interval: float = 0.05,
) -> T:
    """``read()`` until ``done`` holds for its value; AssertionError after ``timeout``."""
    last: list[T] = []

    def check() -> bool:
        last[:] = [read()]
        return done(last[0])

    try:
        _wait_until(check, timeout, what, interval)
    except StartError:
        raise AssertionError(f"{what}: not within {timeout:g}s; last {last!r}") from None
    return last[0]


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """``check()`` until it is true; AssertionError after ``timeout``."""
    poll(check, bool, timeout, what, interval)
