"""How far each consumer group of a stream is behind, and what it lost to trimming.

The results stream is trimmed by age and length (``CONFREC_RESULTS_RETENTION_S``,
``CONFREC_RESULTS_MAXLEN``); a group that falls further behind than that would lose
outcomes it never read, and Redis says nothing of it (its ``lag`` even counts them as
still to come). Here a group whose last-delivered id is older than the stream's first
entry has lost what was trimmed in between: the entries ever added, minus those still in
the stream, minus those the group read (Redis 7's ``entries-added``/``entries-read``).
The figure holds while the gap is in front of the group: once it reads past, Redis
counts from the new position, so the worker's metrics, ``confrec stats`` and
``confrec results`` report it when they see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from confrec.tasks.store.streams import entry_order


@dataclass(frozen=True)
class GroupLag:
    group: str
    pending: int
    """Entries its consumers read and have not acknowledged."""
    behind: int | None
    """Entries still in the stream it has not read (None: Redis < 7 does not tell)."""
    lost: int | None
    """Entries trimmed before it read them (None: Redis < 7 cannot count them)."""


def group_lags(client: redis.Redis, stream: str) -> list[GroupLag]:
    """Every consumer group of ``stream``, by name; [] when the stream does not exist.
    Two cheap reads (XINFO STREAM, XINFO GROUPS), whatever the stream's length."""
    try:
        info: Any = client.xinfo_stream(stream)
        groups: Any = client.xinfo_groups(stream)
    except redis.ResponseError:  # no such key
        return []
    first = info.get("first-entry")
    first_id = entry_order(first[0]) if first else None
    newest = entry_order(info.get("last-generated-id") or "0-0")
    length, added = int(info["length"]), info.get("entries-added")
    found = []
    for group in sorted(groups, key=lambda g: str(g["name"])):
        last = entry_order(group["last-delivered-id"])
        read, lag = group.get("entries-read"), group.get("lag")
        trimmed = last != (0, 0) if added is None else int(added) > length
        gap = first_id is not None and last < first_id and trimmed
        behind: int | None
        lost: int | None
        if first_id is None:  # empty: whatever it had not read was trimmed
            behind, lost = 0, _lost(added, read, 0, last)
        elif gap:
            behind, lost = length, _lost(added, read, length, last)
        else:
            behind = 0 if last >= newest else (None if lag is None else min(int(lag), length))
            lost = 0
        found.append(GroupLag(str(group["name"]), int(group["pending"]), behind, lost))
    return found


def _lost(added: Any, read: Any, still_here: int, last: tuple[int, int]) -> int | None:
    """Entries added after the group's position that are gone; a group made at the
    stream's start (id 0) that Redis gives no ``entries-read`` has read none."""
    if added is None or (read is None and last != (0, 0)):
        return None
    return max(0, int(added) - still_here - int(read or 0))
