"""Browser sessions of ``confrec serve``: a cookie's id stands for a principal for a while.

A browser's ``EventSource`` cannot send an ``Authorization`` header, and a token in a URL
ends up in logs; so a page signs in once with its token and gets an opaque session id in an
HttpOnly cookie. Redis keeps, under a digest of that id (the id itself is stored nowhere),
the principal's name and a digest of the token it signed in with: a token removed from the
tokens ends its sessions at their next request. Each session expires ``ttl_s`` after it
was opened, whatever its use.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import redis

from confrec.tasks.store import keys

#: What a session id looks like (``secrets.token_urlsafe(32)``: 43 characters).
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{32,128}")


def digest(secret: str | bytes) -> str:
    """SHA-256, hex: how a session id and a token are named in Redis."""
    return hashlib.sha256(secret.encode() if isinstance(secret, str) else secret).hexdigest()


@dataclass(frozen=True)
class Session:
    principal: str
    token_digest: str


class SessionStore:
    """``client`` decodes replies (``decode_responses=True``)."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._redis = client
        self.ttl_s = ttl_s

    def open(self, principal: str, token_digest: str) -> str:
        """A new session of ``principal``; returns its id (for the cookie only)."""
        session_id = secrets.token_urlsafe(32)
        key = keys.session(digest(session_id))
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"principal": principal, "token": token_digest})
            pipe.expire(key, self.ttl_s)
            pipe.execute()
        return session_id

    def find(self, session_id: str) -> Session | None:
        """The session, or None: unknown, expired, closed, or not a session id at all."""
        if not _SESSION_ID.fullmatch(session_id):
            return None
        found: list[str | None] = self._redis.hmget(  # type: ignore[assignment]
            keys.session(digest(session_id)), "principal", "token"
        )
        principal, token = found
        return Session(principal, token) if principal and token else None

    def close(self, session_id: str) -> None:
        if _SESSION_ID.fullmatch(session_id):
            self._redis.delete(keys.session(digest(session_id)))
