"""``/healthz``'s answer: cheap, bounded, and never in the way of ``/v1`` or the webhook.

Load balancers probe often and anyone may call it (no auth), so the probes (broker,
Redis) run on a small executor of their own, never the thread pool that ``/v1`` and the
webhook use; each answers within ``timeout_s`` or counts as failed; and one answer serves
every caller for ``CACHE_S``. A probe that is still stuck from an earlier round is not
started again (it is reported as timed out), so a stalled dependency holds at most one
thread per check, however often ``/healthz`` is called.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

#: How long one answer of /healthz is served to every caller.
CACHE_S = 2.0


class Health:
    def __init__(
        self,
        checks: Mapping[str, Callable[[], object]],
        timeout_s: float,
        cache_s: float = CACHE_S,
    ) -> None:
        self._checks = dict(checks)
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, len(self._checks)), thread_name_prefix="healthz"
        )
        self._running: dict[str, Future[str]] = {}
        self._answer: tuple[float, dict[str, str]] | None = None
        self._lock = asyncio.Lock()

    async def results(self) -> dict[str, str]:
        """Each check's "ok" or "failed: …", at most ``cache_s`` old."""
        async with self._lock:  # one round at a time; callers meanwhile get its answer
            if self._answer is None or time.monotonic() - self._answer[0] >= self._cache_s:
                names = list(self._checks)
                found = await asyncio.gather(*(self._probe(name) for name in names))
                self._answer = (time.monotonic(), dict(zip(names, found, strict=True)))
            return self._answer[1]

    async def _probe(self, name: str) -> str:
        running = self._running.get(name)
        if running is None or running.done():
            running = self._running[name] = self._executor.submit(_probe, self._checks[name])
        try:
            return await asyncio.wait_for(asyncio.wrap_future(running), self._timeout_s)
        except TimeoutError:
            return "failed: timeout"


def _probe(check: Callable[[], object]) -> str:
    """ "ok", or the failure's type: its text may hold a URL with a password."""
    try:
        check()
    except Exception as exc:
        return f"failed: {type(exc).__name__}"
    return "ok"
