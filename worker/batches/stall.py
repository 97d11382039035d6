"""Why a followed batch has gone quiet: read once it had no outcome for
``CONFREC_BULK_STALL_S``, and said once, so a user watching ``bulk --wait`` sit at 192/200
knows what it waits for rather than guessing.

The facts are the batch's own counts (``BatchStore``: jobs queued, jobs delivered and not
finished) and, on a Redis broker, what the broker holds in flight (``broker/reading.py``):
the oldest unacknowledged delivery, whose visibility timeout hands it to another worker if
its worker died, and the messages fetched by consumers whose heartbeat lapsed, which the
next sweep hands back to the queue.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from confrec.config.settings import Settings
from confrec.tasks.store.batches import BatchStore
from confrec.tasks.store.consumers import HEARTBEAT_TTL_S
from confrec.worker.batches.report import seconds
from confrec.worker.broker.reading import fetched_by_dead, oldest_unacked_at

#: A quiet batch's facts are read at most this often.
LOOK_EVERY_S = 1.0


@dataclass(frozen=True)
class Quiet:
    """What a quiet batch is waiting for."""

    queued: int
    """Jobs of the batch no worker has begun (a fetched, unstarted message included)."""
    running: int
    """Jobs of the batch a worker began and that have no outcome yet."""
    unacked_since: float | None = None
    """When the broker's oldest unacknowledged delivery was made (Unix time)."""
    dead_fetched: int = 0
    """Messages fetched by workers whose heartbeat lapsed: swept back to the queue next."""


def read_quiet(state: redis.Redis, broker: redis.Redis | None, batch: str) -> Quiet | None:
    """The facts, or None when the batch is unknown (expired) or has nothing in flight."""
    summary = BatchStore(state).summary(batch)
    if summary is None or not summary.in_flight:
        return None
    queued, running = summary.counts["queued"], summary.counts["running"]
    if broker is None:
        return Quiet(queued, running)
    return Quiet(queued, running, oldest_unacked_at(broker), fetched_by_dead(broker))


def quiet_line(quiet: Quiet, idle_s: float, settings: Settings, now: float) -> str:
    """The one line that says it: how long it has been quiet, what is in flight, and what
    brings it back and when."""
    head = f"no outcome for {seconds(idle_s)}"
    if not quiet.running and not quiet.dead_fetched and quiet.unacked_since is None:
        return (
            f"{head}: {quiet.queued} job(s) still queued and none running; is a worker "
            f"consuming queue {settings.queue!r} (CONFREC_QUEUE) on this broker?"
        )
    parts = [f"{head}: {quiet.running} job(s) delivered and not finished, {quiet.queued} queued"]
    parts.append(
        f"a job retrying Telnyx runs up to {seconds(settings.longest_job_s)}; if its worker "
        f"died, it goes to another worker when the visibility timeout lapses "
        f"(CONFREC_VISIBILITY_TIMEOUT={seconds(settings.visibility_timeout)} after its "
        f"delivery, swept within {seconds(settings.longest_redelivery_s)})"
    )
    if quiet.unacked_since is not None:
        due = quiet.unacked_since + settings.visibility_timeout - now
        parts.append(
            "the oldest unacknowledged delivery is "
            f"{seconds(max(now - quiet.unacked_since, 0))} old"
            + (f", due back in ~{seconds(due)}" if due > 0 else ", due back now")
        )
    if quiet.dead_fetched:
        parts.append(
            f"{quiet.dead_fetched} message(s) fetched by a worker whose heartbeat stopped "
            "are being swept back to the queue"
        )
    else:
        parts.append(
            "a message a dead worker had fetched and not begun goes back to the queue "
            f"~{HEARTBEAT_TTL_S + 1}s after its death"
        )
    return "; ".join(parts)


class StallWatch:
    """Calls ``say`` at most once per kind of quiet (no worker / waiting for redelivery),
    after ``settings.bulk_stall_s`` without an outcome; ``outcome()`` restarts the clock."""

    def __init__(
        self, settings: Settings, state: redis.Redis, broker: redis.Redis | None, batch: str
    ) -> None:
        self.settings, self.state, self.broker, self.batch = settings, state, broker, batch
        self.last = self.looked = time.monotonic()
        self.said: set[bool] = set()

    def outcome(self) -> None:
        self.last = time.monotonic()

    def check(self) -> str | None:
        """The line to say now, if the batch has been quiet long enough and it is new."""
        now = time.monotonic()
        idle = now - self.last
        if idle < self.settings.bulk_stall_s or now - self.looked < LOOK_EVERY_S:
            return None
        self.looked = now
        quiet = read_quiet(self.state, self.broker, self.batch)
        if quiet is None:
            return None
        kind = bool(quiet.running or quiet.dead_fetched or quiet.unacked_since is not None)
        if kind in self.said:
            return None
        self.said.add(kind)
        return quiet_line(quiet, idle, self.settings, time.time())
