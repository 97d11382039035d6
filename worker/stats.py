"""``confrec stats``: what the fleet is doing now, read straight from Redis.

Pure reads over one Redis client, so it works with no worker running and shows exactly
what the workers share: the queue (kombu's lists), the messages delivered but not yet
acknowledged (kombu's ``unacked`` hash), the results stream, and the throttle's keys.
Times come from Redis's clock, the same clock that stamps stream ids and the bucket.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import redis
from kombu.transport.redis import PRIORITY_STEPS, Channel
from rich.console import Group
from rich.table import Table

from confrec.config import keys
from confrec.config.settings import Settings

#: Entries read per XRANGE call, so a large stream never arrives in one reply.
PAGE = 1000


@dataclass(frozen=True)
class RateLimitState:
    """The fleet-wide limit as configured here, and the shared bucket and pause now."""

    rate_limit: float | None
    rate_burst: int | None
    tokens: float | None
    """Tokens in the bucket now; None when no limit is configured (nothing is counted)."""
    pause_remaining_ms: int
    """0 when no pause is in force; -1 for a pause key without expiry (should not happen)."""


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
    rate: RateLimitState

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outcomes_total": sum(self.outcomes.values())}


def queue_keys(queue: str) -> list[str]:
    """The Redis lists kombu spreads one queue over (one per priority step)."""
    return [f"{queue}{Channel.sep}{p}" if p else queue for p in PRIORITY_STEPS]


def queue_depth(client: redis.Redis, queue: str) -> int:
    """Jobs waiting in the queue, as kombu's own ``_size`` counts them."""
    with client.pipeline(transaction=False) as pipe:
        for key in queue_keys(queue):
            pipe.llen(key)
        return sum(int(n) for n in pipe.execute())


def in_flight(client: redis.Redis) -> int:
    """Unacked messages plus those fetched into a consumer's in-flight list."""
    consumers: Any = client.hkeys(keys.CONSUMERS)
    with client.pipeline(transaction=False) as pipe:
        pipe.hlen(Channel.unacked_key)
        for consumer in consumers:
            pipe.llen(keys.inflight(_text(consumer)))
        return sum(int(n) for n in pipe.execute())


def redis_now_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def outcome_counts(client: redis.Redis, stream: str, since_ms: int) -> dict[str, int]:
    """Count entries with ids at or after ``since_ms`` by status/reason, a page at a time."""
    counts: Counter[str] = Counter()
    start = f"{since_ms}-0"
    while True:
        rows: Any = client.xrange(stream, min=start, max="+", count=PAGE)
        for _, fields in rows:
            counts[_status_reason(fields)] += 1
        if len(rows) < PAGE:
            return dict(sorted(counts.items()))
        start = "(" + _text(rows[-1][0])


def _status_reason(fields: dict[bytes, bytes]) -> str:
    try:
        outcome = json.loads(fields.get(b"outcome", b"{}"))
    except ValueError:
        outcome = {}
    status = _text(fields.get(b"status", b"")) or outcome.get("status") or "?"
    return f"{status}/{outcome.get('reason') or '?'}"


def current_tokens(
    stored: float | None, stored_at: float | None, now: float, rate: float, burst: int
) -> float:
    """The bucket's tokens at ``now``: the throttle's refill rule applied to its last state
    (a missing bucket has expired after being full, so it is full)."""
    if stored is None or stored_at is None:
        return float(burst)
    return round(min(float(burst), stored + max(0.0, now - stored_at) * rate), 3)


def rate_state(client: redis.Redis, settings: Settings, now_ms: int) -> RateLimitState:
    rate = settings.rate_limit
    burst = settings.rate_burst or (max(1, math.ceil(rate)) if rate else None)
    tokens: float | None = None
    if rate and burst:
        stored, stored_at = client.hmget(keys.RATE_BUCKET, ["tokens", "ts"])
        tokens = current_tokens(_float(stored), _float(stored_at), now_ms / 1000, rate, burst)
    pttl = int(client.pttl(keys.FLEET_PAUSE))
    return RateLimitState(rate, burst, tokens, pttl if pttl > 0 or pttl == -1 else 0)


def collect(
    broker: redis.Redis, state: redis.Redis, settings: Settings, *, window_s: int = 3600
) -> Stats:
    """One snapshot of the fleet; each figure is one cheap read (the window is paged).
    The queue lives on the broker; outcomes and the rate limit on the state Redis."""
    now_ms = redis_now_ms(state)
    return Stats(
        broker=settings.safe_broker_url,
        queue=settings.queue,
        queue_depth=queue_depth(broker, settings.queue),
        in_flight=in_flight(broker),
        window_s=window_s,
        outcomes=outcome_counts(state, settings.results_stream, now_ms - window_s * 1000),
        rate=rate_state(state, settings, now_ms),
    )


def render(stats: Stats) -> Group:
    """Two tables: the fleet's state, then the window's outcomes."""
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
    return Group(state, outcomes)


def _pause_text(ms: int) -> str:
    if ms == -1:
        return "paused, no expiry"
    return f"{ms / 1000:.1f}s left" if ms > 0 else "none"


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _float(value: bytes | str | None) -> float | None:
    return float(value) if value is not None else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
