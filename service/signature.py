"""Telnyx's webhook signature: Ed25519 over ``"{telnyx-timestamp}|{raw body}"``.

Checked before the body is parsed, so nothing an unverified sender writes is ever read.
The timestamp is refused when it is more than ``tolerance_s`` from now in either
direction: a captured request cannot be replayed later, nor one be signed for the future.
Verification uses PyNaCl, as Telnyx's own SDK does.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

TIMESTAMP_HEADER = "telnyx-timestamp"
SIGNATURE_HEADER = "telnyx-signature-ed25519"
TOLERANCE_S = 300


class SignatureError(Exception):
    """The webhook is not provably from Telnyx; the text says why (it holds no secret)."""


def load_public_key(b64: str) -> VerifyKey:
    """The account's public key from its base64 form; ValueError names what is wrong."""
    try:
        raw = base64.b64decode(b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, this one is {len(raw)}")
    return VerifyKey(raw)


class WebhookVerifier:
    def __init__(
        self,
        key: VerifyKey,
        *,
        tolerance_s: float = TOLERANCE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._tolerance_s = tolerance_s
        self._clock = clock

    def verify(self, timestamp: str | None, signature: str | None, body: bytes) -> None:
        """Return if the headers prove ``body`` came from Telnyx just now; else raise."""
        if not timestamp or not signature:
            raise SignatureError(f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise SignatureError(f"{TIMESTAMP_HEADER} is not Unix seconds") from None
        if abs(self._clock() - sent_at) > self._tolerance_s:
            raise SignatureError(
                f"{TIMESTAMP_HEADER} is more than {self._tolerance_s:g} s from now"
            )
        try:
            raw_signature = base64.b64decode(signature, validate=True)
            self._key.verify(timestamp.encode() + b"|" + body, raw_signature)
        except (binascii.Error, ValueError, BadSignatureError):
            raise SignatureError("the signature does not match the body") from None
