"""Bind the simulator to a socket: ``start_site()`` for tests, ``run()`` for the CLI.

``run()`` owns its event loop and exits cleanly (returns normally, so the
process exits 0) on SIGINT or SIGTERM.  The access log is off: it costs time
under load and would be one more place a request could leak.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from aiohttp import web

from confrec.simulator.app import create_app

__all__ = ["run", "start_site"]


async def start_site(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Bind ``app`` and return its runner and the actual port (port 0 works)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        bound_port = int(runner.addresses[0][1])
    except BaseException:
        await runner.cleanup()
        raise
    return runner, bound_port


async def _serve(app: web.Application, host: str, port: int) -> None:
    runner, bound_port = await start_site(app, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"simulator listening on http://{shown_host}:{bound_port}/v2", flush=True)
    try:
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await runner.cleanup()


def run(
    *,
    host: str = "127.0.0.1",
    port: int = 8099,
    api_key: str | None = None,
    latency_ms: float = 0.0,
    dedupe_window_s: float = 60.0,
    limit_rps: float | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, then shut down cleanly and return."""
    app = create_app(
        api_key=api_key, latency_ms=latency_ms, dedupe_window_s=dedupe_window_s, limit_rps=limit_rps
    )
    asyncio.run(_serve(app, host, port))
