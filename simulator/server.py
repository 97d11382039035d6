"""Serve the simulator with uvicorn: ``run()`` for the CLI, ``serve_in_thread()`` for tests.

``run()`` owns its event loop and exits cleanly (returns normally, so the process exits
0) on SIGINT or SIGTERM: uvicorn stops accepting, gives requests in flight up to 1 s,
then the app's shutdown cancels pending webhook deliveries (bounded, 1 s).  It prints the
webhook public key, then the listening line (with the bound port, so port 0 works).

The access log is off: it costs time under load and would be one more place a request
could leak.  Neither function configures logging; ``run()`` (a process of its own) only
keeps uvicorn's loggers at WARNING, so nothing but trouble reaches stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator

import uvicorn
from starlette.types import ASGIApp

from confrec.simulator.app import SimOptions, Simulator
from confrec.simulator.drop import protocol_class

__all__ = ["run", "serve_in_thread"]

_GRACE_S = 1  # requests in flight at shutdown get this long to be answered


class _Server(uvicorn.Server):
    """uvicorn's server, telling ``on_started`` the bound port, leaving signals to us."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[int], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn's own handlers re-raise the signal after shutdown (exit by signal, not 0).
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started(int(self.servers[0].sockets[0].getsockname()[1]))


def _config(app: ASGIApp, host: str, port: int, log_level: str | None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_class(),  # httptools when installed; can drop a connection
        ws="none",
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        date_header=False,  # the simulator writes its own Date, on Telnyx's clock
        backlog=1024,
        timeout_graceful_shutdown=_GRACE_S,
    )


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, timeout_s: float = 10.0
) -> Iterator[int]:
    """Serve ``app`` from a thread of its own; yields the bound port (port 0 works).

    Waits at most ``timeout_s`` for the server to start and, on exit, to stop.
    """
    ports: queue.Queue[int] = queue.Queue(maxsize=1)
    server = _Server(_config(app, host, port, None), ports.put_nowait)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve()), name=f"simulator-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                bound = ports.get(timeout=0.05)
                break
            except queue.Empty:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"server on {host}:{port} did not start") from None
        yield bound
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        if thread.is_alive():
            raise RuntimeError(f"server on {host}:{port} did not stop in {timeout_s} s")


async def _serve(server: _Server) -> None:
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []

    def stop() -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop)
            handled.append(sig)
    try:
        await server.serve()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def run(options: SimOptions, *, host: str = "127.0.0.1", port: int = 8099) -> None:
    """Serve until SIGINT/SIGTERM, then shut down cleanly and return.

    With ``webhook_url``, each recording started is saved ``recording_seconds`` later and
    its signed ``conference.recording.saved`` webhook POSTed there; ``signing_key`` is the
    base64 of a 32-byte Ed25519 seed (None: a fresh key).  Bad values raise ValueError
    before anything is printed or bound.
    """
    sim = Simulator(options)
    shown_host = f"[{host}]" if ":" in host else host

    def listening(bound_port: int) -> None:
        print(f"simulator listening on http://{shown_host}:{bound_port}/v2", flush=True)

    print(f"simulator webhook public key {sim.public_key}", flush=True)
    asyncio.run(_serve(_Server(_config(sim.app, host, port, "warning"), listening)))
