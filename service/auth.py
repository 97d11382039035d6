"""Bearer tokens for ``/v1/*``, compared in constant time.

Every accepted token is compared on every request (no early exit), so the time an answer
takes tells an attacker neither which token nor how many characters matched.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from confrec.service.errors import unauthorized

# auto_error=False: a missing header gets our 401 in Telnyx's shape, not FastAPI's.
_bearer = HTTPBearer(auto_error=False, description="One of CONFREC_API_TOKENS.")


class BearerTokens:
    """A FastAPI dependency (``Depends(tokens)``): passes with a valid
    ``Authorization: Bearer <token>``, else 401."""

    def __init__(self, tokens: list[str]) -> None:
        if not tokens:
            raise ValueError("at least one API token is required")
        self._tokens = [token.encode() for token in tokens]

    def accepts(self, token: str) -> bool:
        given = token.encode()
        matched = False
        for known in self._tokens:
            matched |= hmac.compare_digest(given, known)
        return matched

    def __call__(
        self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> None:
        if credentials is None or not self.accepts(credentials.credentials):
            raise unauthorized()
