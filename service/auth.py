"""Bearer tokens for ``/v1/*``: who the caller is, compared in constant time, reloadable.

Every accepted token is compared on every request (no early exit), so the time an answer
takes tells an attacker neither which token nor how many characters matched. Tokens come
from ``CONFREC_API_TOKENS`` and, optionally, a file (``CONFREC_API_TOKENS_FILE``) that is
re-read when it changes — looked at (``stat``) at most once a second — and on SIGHUP, so
tokens are added and revoked without a restart (a running process cannot re-read its
environment). A file that cannot be read or parsed leaves the last good set in force and
says so in the log.
"""

from __future__ import annotations

import hmac
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from confrec.service import requestlog
from confrec.service.errors import ApiError, error, unauthorized
from confrec.service.tokens import Token, TokenError, from_env, from_file_text
from confrec.tasks.principal import Principal
from confrec.tasks.store.sessions import SessionStore, digest

#: How often, at most, the tokens file is looked at for a change.
STAT_INTERVAL_S = 1.0

log = logging.getLogger("confrec.serve")

# auto_error=False: a missing header gets our 401 in Telnyx's shape, not FastAPI's.
_bearer = HTTPBearer(auto_error=False, description="One of CONFREC_API_TOKENS.")
bearer_scheme = _bearer

#: The browser session's cookie (``POST /v1/session``), accepted wherever a token is.
SESSION_COOKIE = "confrec_session"
#: A request authenticated by the cookie that changes anything must carry this header
#: (value ``1``): a page of another site cannot send it without a CORS preflight.
CSRF_HEADER = "x-confrec-csrf"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def csrf_refused() -> ApiError:
    return ApiError(
        403,
        error(
            "10010",
            "Authorization failed",
            f"A request signed in by the session cookie must send the header "
            f"'{CSRF_HEADER}: 1' to change anything.",
        ),
    )


_PRINCIPAL = "confrec.principal"


def authenticated(request: Request) -> Principal:
    """A route's dependency: the principal its router's ``BearerTokens`` found (FastAPI
    solves a router's dependencies before its routes'); 401 should it have found none."""
    found = request.scope.get(_PRINCIPAL)
    if not isinstance(found, Principal):
        raise unauthorized()
    return found


class BearerTokens:
    """A FastAPI dependency (``Depends(tokens)``): the caller's principal for a valid
    ``Authorization: Bearer <token>`` or, without one, a live session cookie (after
    ``use_sessions``), else 401. Raises TokenError (naming the variable)
    when the tokens cannot be read at start or there is none."""

    def __init__(
        self,
        env: str = "",
        path: Path | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._env = from_env(env)
        self._path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._hup = False
        self._seen: tuple[int, int, int] | None = None
        self._looked_at = clock()
        self._problem: str | None = None
        self._tokens = self._env + (self._read_file(path) if path else [])
        self._sessions: SessionStore | None = None
        if not self._tokens:
            raise TokenError(
                "no token in CONFREC_API_TOKENS"
                + (f" nor in CONFREC_API_TOKENS_FILE ({path})" if path else "")
            )

    def principal(self, token: str) -> Principal | None:
        given = token.encode()
        found = None
        for known in self._current():
            if hmac.compare_digest(given, known.secret):
                found = known.principal
        return found

    def by_digest(self, token_digest: str) -> Principal | None:
        """The principal of the token whose digest this is (a session's), compared with
        every token; None once the token was removed."""
        given = token_digest.encode()
        found = None
        for known in self._current():
            if hmac.compare_digest(given, digest(known.secret).encode()):
                found = known.principal
        return found

    def use_sessions(self, sessions: SessionStore) -> None:
        """Accept the session cookie too (``POST /v1/session`` opens one)."""
        self._sessions = sessions

    def from_session(self, request: Request) -> Principal | None:
        """The principal of the request's session cookie, if it is a live session whose
        token is still one of the tokens, of the same principal; a cookie-authenticated
        request that is not a read must carry the CSRF header (403)."""
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id or self._sessions is None:
            return None
        session = self._sessions.find(session_id)
        found = None if session is None else self.by_digest(session.token_digest)
        if session is None or found is None or found.name != session.principal:
            return None
        if request.method not in _SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
            raise csrf_refused()
        return found

    def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            found = self.from_session(request)
        else:
            found = self.principal(credentials.credentials)
        if found is None:
            raise unauthorized()
        request.scope[_PRINCIPAL] = found
        requestlog.note(request, principal=found.name)
        return found

    def reload_on_sighup(self) -> None:
        """SIGHUP re-reads the file at the next request. Python takes signals in the main
        thread only: called elsewhere, this does nothing (the file's changes are still
        seen by ``stat``)."""
        if self._path is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGHUP, lambda *_: self.reload())

    def reload(self) -> None:
        """Re-read the file at the next request, changed or not (what SIGHUP does)."""
        self._hup = True

    def _current(self) -> list[Token]:
        if self._path is None:
            return self._tokens
        now = self._clock()
        if not self._hup and now - self._looked_at < STAT_INTERVAL_S:
            return self._tokens
        with self._lock:
            self._looked_at, forced, self._hup = now, self._hup, False
            try:
                self._tokens = self._env + self._read_file(self._path, forced)
            except TokenError as exc:
                self._warn(f"{exc}; the tokens read before stay in force")
        return self._tokens

    def _read_file(self, path: Path, forced: bool = True) -> list[Token]:
        """The file's tokens; TokenError when it cannot be read. Unchanged since the last
        read (same mtime, size and inode) and not ``forced``: the tokens in force."""
        try:
            stat = os.stat(path)
            seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if seen == self._seen and not forced:
                return self._tokens[len(self._env) :]
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenError(f"CONFREC_API_TOKENS_FILE {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise TokenError(f"CONFREC_API_TOKENS_FILE {path}: not UTF-8 text") from None
        tokens = from_file_text(text, str(path))
        if self._seen is not None:
            names = sorted({t.principal.name for t in tokens})
            log.info("API tokens re-read from %s: %d, principals %s", path, len(tokens), names)
        self._seen, self._problem = seen, None
        return tokens

    def _warn(self, problem: str) -> None:
        if problem != self._problem:
            log.warning("CONFREC_API_TOKENS_FILE: %s", problem)
        self._problem = problem
