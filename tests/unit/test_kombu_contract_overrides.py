"""confrec's overrides of kombu's redis transport (worker/broker/transport.py), checked
against the kombu installed: each still overrides a kombu method, with a signature that
accepts every call kombu's accepts, and a method confrec adds does not shadow one of
kombu's. A kombu or Celery upgrade that renames, removes or re-signs one of them fails
here, naming it, instead of quietly losing the "nothing lost" guarantee (an override that
no longer overrides anything is never called). pyproject.toml bounds these packages;
docs/installing.md says how to move the bounds, and what to do when this test fails.

The overrides are read from confrec's classes, so a new one is covered without editing
this file; a method confrec adds must be listed in OURS. The private attributes the
transport uses: test_kombu_contract_attributes.py."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from kombu.transport import redis as kombu_redis

from confrec.worker.broker import transport
from tests.support.kombu_contract import HOWTO, WHERE, callable_of

#: Each of confrec's classes and the kombu class it extends.
EXTENDS: list[tuple[type, type]] = [
    (transport.ReliableQoS, kombu_redis.QoS),
    (transport.ReliableChannel, kombu_redis.Channel),
    (transport.ReliableSentinelChannel, kombu_redis.SentinelChannel),
    (transport.ReliableTransport, kombu_redis.Transport),
    (transport.ReliableSentinelTransport, kombu_redis.SentinelTransport),
]

#: Methods confrec adds (not overrides): kombu must not have them, or ours would shadow
#: kombu's own without anyone deciding to.
OURS: dict[type, set[str]] = {
    transport.ReliableChannel: {
        "reliable_queue",
        "inflight_key",
        "_deliver_fetched",
        "take_fetched",
        "_set_aside",
        "_register",
        "registration",
        "release",
        "detached",
    },
}


def own_attributes(cls: type) -> list[str]:
    """What ``cls`` itself defines, dunders aside (``__init__`` included)."""
    return sorted(name for name in vars(cls) if not (name.startswith("__") and name != "__init__"))


def overrides() -> Iterator[tuple[type, type, str]]:
    for ours, base in EXTENDS:
        for name in own_attributes(ours):
            if name not in OURS.get(ours, set()):
                yield ours, base, name


def incompatibilities(ours: inspect.Signature, theirs: inspect.Signature) -> list[str]:
    """Why a call that kombu's signature accepts would not fit ours (empty: it fits)."""
    mine = list(ours.parameters.values())
    kinds = {p.kind for p in mine}
    by_name = {p.name: p for p in mine}
    positional = [p for p in mine if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    problems = []
    index = 0
    for param in theirs.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            if param.VAR_POSITIONAL not in kinds:
                problems.append(f"kombu's takes *{param.name}, ours does not")
            continue
        if param.kind is param.VAR_KEYWORD:
            if param.VAR_KEYWORD not in kinds:
                problems.append(f"kombu's takes **{param.name}, ours does not")
            continue
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            if index < len(positional):
                match = positional[index]
            elif param.VAR_POSITIONAL in kinds:
                match = None
            else:
                problems.append(f"ours lacks kombu's positional parameter {param.name!r}")
                continue
            index += 1
            named = param.kind is param.POSITIONAL_OR_KEYWORD
            if named and match is not None and match.name != param.name:
                problems.append(f"kombu's {param.name!r} is ours {match.name!r}")
        else:  # keyword-only
            match = by_name.get(param.name)
            if match is None and param.VAR_KEYWORD not in kinds:
                problems.append(f"ours lacks kombu's keyword {param.name!r}")
        optional = param.default is not param.empty
        if optional and match is not None and match.default is match.empty:
            problems.append(f"kombu's {param.name!r} is optional, ours is required")
    known = {p.name for p in theirs.parameters.values()}
    for param in positional[index:] + [p for p in mine if p.kind is p.KEYWORD_ONLY]:
        if param.default is param.empty and param.name not in known:
            problems.append(f"ours requires {param.name!r}, which kombu's callers do not pass")
    return problems


@pytest.mark.parametrize(
    ("ours", "base", "name"),
    list(overrides()),
    ids=[f"{o.__name__}.{n}" for o, _, n in overrides()],
)
def test_every_override_still_overrides_kombus_method_with_a_compatible_signature(
    ours: type, base: type, name: str
) -> None:
    what = f"{base.__module__}.{base.__qualname__}.{name}"
    try:
        theirs = inspect.getattr_static(base, name)
    except AttributeError:
        pytest.fail(
            f"{what} is gone, but {ours.__name__}.{name} ({WHERE}) overrides it: kombu no "
            f"longer calls ours, so the reliable fetch is bypassed; {HOWTO}. (A method "
            f"that confrec adds goes into OURS in {__name__}.)"
        )
    mine = inspect.getattr_static(ours, name)
    my_function, their_function = callable_of(mine), callable_of(theirs)
    if my_function is None or their_function is None:
        assert (my_function is None) == (their_function is None), (
            f"{what} is a {type(theirs).__name__} in kombu, but {ours.__name__}.{name} "
            f"({WHERE}) is a {type(mine).__name__}; {HOWTO}"
        )
        return
    problems = incompatibilities(inspect.signature(my_function), inspect.signature(theirs))
    assert not problems, (
        f"{what}{inspect.signature(their_function)} no longer fits "
        f"{ours.__name__}.{name}{inspect.signature(my_function)} ({WHERE}): "
        f"{'; '.join(problems)}; {HOWTO}"
    )


@pytest.mark.parametrize(("ours", "name"), [(o, n) for o, ns in OURS.items() for n in sorted(ns)])
def test_the_methods_confrec_adds_do_not_shadow_kombus(ours: type, name: str) -> None:
    assert name in vars(ours), f"OURS names {ours.__name__}.{name}, which is gone: update OURS"
    base = dict(EXTENDS)[ours]
    assert not hasattr(base, name), (
        f"kombu's {base.__module__}.{base.__qualname__} now has {name}, which "
        f"{ours.__name__}.{name} ({WHERE}) shadows: kombu would call ours for its own "
        f"purpose; rename ours, or decide to override it; {HOWTO}"
    )
