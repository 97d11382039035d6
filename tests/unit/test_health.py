"""``/healthz``'s probes: bounded by a timeout, cached for a moment, and a probe that is
stuck is never started twice (a stalled dependency holds one thread, not one per call)."""

from __future__ import annotations

import asyncio
import threading

from confrec.service.health import Health


def test_a_stuck_probe_times_out_once_for_many_callers_and_is_not_started_again() -> None:
    release, calls = threading.Event(), []

    def stuck() -> None:
        calls.append(1)
        release.wait(10)

    async def probe() -> None:
        cached = Health({"broker": stuck, "redis": lambda: None}, timeout_s=0.2)
        answers = await asyncio.gather(*(cached.results() for _ in range(50)))
        assert answers == [{"broker": "failed: timeout", "redis": "ok"}] * 50
        uncached = Health({"broker": stuck}, timeout_s=0.2, cache_s=0)
        for _ in range(3):  # a new round each time, the first probe still stuck
            assert await uncached.results() == {"broker": "failed: timeout"}

    try:
        asyncio.run(probe())
        assert len(calls) == 2  # one per Health, however many rounds
    finally:
        release.set()


def test_a_failure_names_its_type_never_its_text() -> None:
    def fails() -> None:
        raise ConnectionError("redis://:secret@host")

    health = Health({"redis": fails}, timeout_s=1)
    assert asyncio.run(health.results()) == {"redis": "failed: ConnectionError"}
