"""The bearer tokens of ``CONFREC_API_TOKENS`` and ``CONFREC_API_TOKENS_FILE``, parsed.

An entry is ``token`` (an unnamed principal of its own), ``name:token`` or
``name+operator:token`` (a named principal; the operator scope sees every job). A name is
1 to 64 of ``A-Z a-z 0-9 . _ -``; an entry whose text before its first ``:`` is not a name
is a plain token, colons and all (today's tokens keep working). Several tokens may share
a name (rotation: old and new token are the same principal). An unnamed token's name is
``sha256:`` and the first 12 hex digits of its digest: it holds a ``:``, so it can never be
a name, and it is never the token. Errors name the source and the entry, never a token.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from confrec.tasks.principal import Principal

OPERATOR = "+operator"
_NAMED = re.compile(r"(?P<name>[A-Za-z0-9._-]{1,64})(?P<operator>\+operator)?:(?P<token>.*)", re.S)


class TokenError(ValueError):
    """An entry that cannot be a token; the text names where it is, not what it holds."""


@dataclass(frozen=True)
class Token:
    secret: bytes
    principal: Principal


def unnamed(token: str) -> Principal:
    return Principal(f"sha256:{hashlib.sha256(token.encode()).hexdigest()[:12]}", named=False)


def parse_entry(entry: str) -> Token:
    found = _NAMED.fullmatch(entry)
    if found is None:
        return Token(entry.encode(), unnamed(entry))
    name, token = found["name"], found["token"].strip()
    if not token:
        raise TokenError(f"principal {name!r} has no token after ':'")
    return Token(token.encode(), Principal(name, operator=found["operator"] is not None))


def parse_entries(entries: Iterable[tuple[str, str]]) -> list[Token]:
    """``(where, entry)`` pairs, blanks already dropped; the same token twice under two
    principals is refused (which one would it be?)."""
    tokens: dict[bytes, Token] = {}
    for where, entry in entries:
        try:
            token = parse_entry(entry)
        except TokenError as exc:
            raise TokenError(f"{where}: {exc}") from None
        if tokens.get(token.secret, token).principal != token.principal:
            raise TokenError(f"{where}: this token is already another principal's")
        tokens[token.secret] = token
    return list(tokens.values())


def from_env(raw: str) -> list[Token]:
    """``CONFREC_API_TOKENS``: comma-separated entries; blanks between commas ignored."""
    entries = [entry.strip() for entry in raw.split(",")]
    return parse_entries(
        (f"CONFREC_API_TOKENS entry {n}", entry) for n, entry in enumerate(entries, 1) if entry
    )


def from_file_text(text: str, path: str) -> list[Token]:
    """A tokens file: one entry a line; blank lines and lines starting ``#`` ignored."""
    lines = [line.strip() for line in text.splitlines()]
    return parse_entries(
        (f"CONFREC_API_TOKENS_FILE {path} line {n}", line)
        for n, line in enumerate(lines, 1)
        if line and not line.startswith("#")
    )
