"""Where each recording goes: ``DIR/<conference>/[<labels>_]<recording_id>.<format>``.

The conference is as the job addressed it (its id, or the name the producer used), so a
person finds it under the name they know; ``--job`` and ``--batch`` put a recording at
the same path, so a second run skips it. Any conference name is made one safe path
component: bytes outside ``A-Z a-z 0-9 - _ .`` are percent-encoded (``%`` too, so two
names never share a folder by encoding), a leading ``.`` as well (no hidden folders, no
``.`` or ``..``), and a long name is cut and ended with a hash of the whole (file
systems allow 255 bytes). The file name is Telnyx's recording id, unique on its own,
after the job's labels as ``key-value`` pairs joined by ``_`` in key order
(``meeting-4711_team-sales_<recording id>.wav``), made safe the same way.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

#: Longest component we write: room below 255 bytes for ``.`` + name + ``.part``.
MAX_COMPONENT = 200
_UNSAFE = re.compile(rb"[^A-Za-z0-9_.-]")


def safe_component(text: str) -> str:
    """``text`` as one file-system-safe path component (see the module doc)."""
    raw = text.encode("utf-8", "surrogatepass")
    encoded = _UNSAFE.sub(lambda m: f"%{m.group()[0]:02X}".encode(), raw).decode("ascii")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if not encoded:
        return "%00"
    if len(encoded) > MAX_COMPONENT:
        digest = hashlib.sha256(raw).hexdigest()[:16]
        encoded = f"{encoded[: MAX_COMPONENT - 17]}~{digest}"
    return encoded


def target(
    dest: Path, folder: str, recording_id: str, fmt: str, labels: dict[str, str] | None = None
) -> Path:
    """The final path of one recording's file."""
    pairs = [f"{key}-{value}" for key, value in sorted((labels or {}).items())]
    stem = "_".join([*pairs, recording_id])
    return dest / safe_component(folder) / f"{safe_component(stem)}.{safe_component(fmt)}"


def part_of(final: Path) -> Path:
    """Where the file is written until it is complete: hidden, beside its final name
    (same file system, so the rename that finishes it is atomic)."""
    return final.with_name(f".{final.name}.part")
