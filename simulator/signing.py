"""Ed25519 webhook signatures, as Telnyx signs its webhooks.

Telnyx sends ``telnyx-timestamp`` (unix seconds) and ``telnyx-signature-ed25519``
(base64 of the Ed25519 signature over ``f"{timestamp}|".encode() + raw_body``); a
receiver verifies with the account's public key.  The simulator has a key of its own
(random per process, or from a base64 32-byte seed) and publishes its public key.
"""

from __future__ import annotations

import base64
import binascii

from nacl.signing import SigningKey

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "Signer", "parse_signing_key"]

TIMESTAMP_HEADER = "telnyx-timestamp"
SIGNATURE_HEADER = "telnyx-signature-ed25519"
SEED_BYTES = 32


def parse_signing_key(text: str) -> bytes:
    """The 32-byte Ed25519 seed ``text`` encodes in base64; ValueError says what is wrong."""
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64 (want base64 of a 32-byte Ed25519 seed)") from None
    if len(seed) != SEED_BYTES:
        raise ValueError(f"decodes to {len(seed)} bytes, an Ed25519 seed is {SEED_BYTES}")
    return seed


class Signer:
    """Signs webhook bodies; ``seed`` None generates a fresh key."""

    def __init__(self, seed: bytes | None = None) -> None:
        self._key = SigningKey.generate() if seed is None else SigningKey(seed)
        self.public_key = base64.b64encode(bytes(self._key.verify_key)).decode("ascii")

    def headers(self, body: bytes, timestamp: int) -> dict[str, str]:
        """The headers of one POST of ``body`` signed at ``timestamp`` (unix seconds)."""
        signed = self._key.sign(f"{timestamp}|".encode() + body).signature
        return {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: base64.b64encode(signed).decode("ascii"),
        }
