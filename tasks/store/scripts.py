"""The Lua of confrec's atomic steps, kept in ``lua/*.lua`` beside this module (package data).

Lua in files of its own reads, diffs and lints as Lua. A script whose first line is
``-- uses: a, b`` gets the library files ``a.lua`` and ``b.lua`` (and theirs) prepended
once each, so a function two scripts run — the throttle's ``take``, which the ledger's
first step runs too — is written once.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import redis
from redis.commands.core import Script

_USES = "-- uses:"


def _libraries(name: str) -> list[str]:
    """The libraries ``name`` uses, each after those it uses, once each."""
    order: list[str] = []
    for lib in _uses(name):
        order += [dep for dep in [*_libraries(lib), lib] if dep not in order]
    return order


def _text(name: str) -> str:
    return files(__package__).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def _uses(name: str) -> list[str]:
    first = _text(name).split("\n", 1)[0]
    if not first.startswith(_USES):
        return []
    return [lib.strip() for lib in first.removeprefix(_USES).split(",") if lib.strip()]


@cache
def source(name: str) -> str:
    """The whole script ``lua/{name}.lua``, its libraries first."""
    return "".join(_text(lib) for lib in [*_libraries(name), name])


def register(client: redis.Redis, name: str) -> Script:
    """``lua/{name}.lua`` as a redis-py Script on ``client`` (EVALSHA, EVAL once if new)."""
    return client.register_script(source(name))
