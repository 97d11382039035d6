"""What every Telnyx API call of the simulator checks first: the bearer, the rate limit.

Bearer tokens are compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac
import math

__all__ = ["bearer_ok", "rate_headers"]


def bearer_ok(header: str | None, api_key: str | None) -> bool:
    """Any non-empty bearer passes when ``api_key`` is None, else it must match."""
    if not header:
        return False
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    if api_key is None:
        return True
    return hmac.compare_digest(token.encode(), api_key.encode())


def rate_headers(limit: int, remaining: int, reset_in_s: float) -> dict[str, str]:
    """Telnyx's ``x-ratelimit-*`` headers."""
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(max(1, math.ceil(reset_in_s))),
    }
