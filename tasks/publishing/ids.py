"""Job and command ids for a whole chunk at once."""

from __future__ import annotations

import os


def random_ids(count: int) -> list[str]:
    """``count`` random UUIDs (version 4, RFC 4122 variant), each written as
    ``str(uuid.uuid4())`` writes one, from a single read of the OS's random source:
    ``uuid4()`` reads it and builds a UUID object for every id, which was a tenth of the
    producer's time per job."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes(0x40 | (b & 0x0F) for b in raw[6::16])  # version 4
    raw[8::16] = bytes(0x80 | (b & 0x3F) for b in raw[8::16])  # variant 10xx
    h = raw.hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-"
        f"{h[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]
