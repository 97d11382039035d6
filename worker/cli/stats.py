"""``confrec stats``: what the fleet is doing now, read straight from Redis.

Pure reads, so it works with no worker running and shows exactly what the workers share:
the queue and the messages delivered but not yet acknowledged (asked of the broker
transport), the results stream's outcomes and the throttle's bucket and pause (asked of
``ResultsStream`` and ``FleetThrottle``, which write them). Times come from Redis's clock,
the same clock that stamps stream ids and the bucket.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import redis
from rich.console import Group
from rich.table import Table

from confrec.config.settings import Settings
from confrec.tasks.store.stream_lag import GroupLag, group_lags
from confrec.tasks.store.streams import ResultsStream
from confrec.tasks.store.throttle import FleetThrottle, ThrottleState
from confrec.worker.broker.reading import in_flight, queue_depth


@dataclass(frozen=True)
class Stats:
    broker: str
    queue: str
    queue_depth: int
    in_flight: int
    """Messages delivered to a worker and not yet acknowledged, over every queue of this
    Redis database: jobs running or reserved by a worker."""
    window_s: int
    outcomes: dict[str, int]
    """Outcomes published within the window, by ``status/reason``."""
    rate: ThrottleState
    groups: list[GroupLag]
    """Each consumer group of the results stream: pending, behind, lost to trimming."""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outcomes_total": sum(self.outcomes.values())}


def collect(
    broker: redis.Redis, state: redis.Redis, settings: Settings, *, window_s: int = 3600
) -> Stats:
    """One snapshot of the fleet; each figure is one cheap read (the window is paged).
    The queue lives on the broker; outcomes and the rate limit on the state Redis.
    Both clients decode replies (``confrec.worker.broker.clients``)."""
    throttle = FleetThrottle(state, rate=settings.rate_limit, burst=settings.rate_burst)
    return Stats(
        broker=settings.safe_broker_url,
        queue=settings.queue,
        queue_depth=queue_depth(broker, settings.queue),
        in_flight=in_flight(broker),
        window_s=window_s,
        outcomes=ResultsStream(state, settings.results_stream).counts(window_s),
        rate=throttle.state(),
        groups=group_lags(state, settings.results_stream),
    )


def render(stats: Stats) -> Group:
    """Tables: the fleet's state, the window's outcomes, the results stream's consumer
    groups (when it has any)."""
    state = Table(title=f"confrec on {stats.broker}", show_header=False, title_justify="left")
    state.add_column("what")
    state.add_column("value", justify="right")
    state.add_row(f"queue {stats.queue}", str(stats.queue_depth))
    state.add_row("in flight (unacked)", str(stats.in_flight))
    rate = stats.rate
    if rate.rate_limit is None:
        state.add_row("rate limit", "none")
    else:
        state.add_row("rate limit", f"{rate.rate_limit:g}/s, burst {rate.rate_burst}")
        state.add_row("tokens in bucket", f"{rate.tokens:.1f}" if rate.tokens is not None else "-")
    state.add_row("fleet pause", _pause_text(rate.pause_remaining_ms))

    outcomes = Table(title=f"outcomes, last {_duration(stats.window_s)}", title_justify="left")
    outcomes.add_column("status")
    outcomes.add_column("reason")
    outcomes.add_column("jobs", justify="right")
    for key, count in stats.outcomes.items():
        status, _, reason = key.partition("/")
        outcomes.add_row(status, reason, str(count))
    outcomes.add_row("total", "", str(sum(stats.outcomes.values())), style="bold")
    if not stats.groups:
        return Group(state, outcomes)
    groups = Table(title="consumer groups of the results stream", title_justify="left")
    for column in ("group", "pending", "behind", "lost to trimming"):
        groups.add_column(column, justify="left" if column == "group" else "right")
    for lag in stats.groups:
        lost = "-" if lag.lost is None else str(lag.lost)
        behind = "-" if lag.behind is None else str(lag.behind)
        groups.add_row(lag.group, str(lag.pending), behind, lost, style="red" if lag.lost else None)
    return Group(state, outcomes, groups)


def _pause_text(ms: int) -> str:
    if ms == -1:
        return "paused, no expiry"
    return f"{ms / 1000:.1f}s left" if ms > 0 else "none"


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"
