"""Clients that come and go faster than a stream's last read ends: each stream's read of
Redis may outlive its client by up to 5 s (XREAD BLOCK), and the next clients must still
get their streams — at the default bound of 100 open streams, not a 503 for want of a
Redis connection (redis-py's pools hold 100 unless told otherwise)."""

from __future__ import annotations

from pathlib import Path

from confrec.worker.local.processes import ManagedProcess
from tests.support.serve import TOKEN_A, running_stack
from tests.support.sse import open_events

CLIENTS = 130  # one after another, each gone once its stream said it was ready


def test_streams_whose_clients_left_leave_room_for_the_next(
    redis_proc: ManagedProcess, simulator: ManagedProcess, workdir: Path
) -> None:
    with running_stack(workdir, redis_proc.extra["url"], simulator, port=None) as stack:
        url = f"{stack.api.root}/v1/events"
        headers = {"Authorization": f"Bearer {TOKEN_A}"}
        for _ in range(CLIENTS):
            with open_events(stack.api.http, url, headers) as events:
                events.until(lambda seen: any(e.name == "ready" for e in seen), 10, "ready")
