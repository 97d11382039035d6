"""The reconciler's thread in each ``confrec worker`` main process.

The worker holds the API key (serve never does), so reconciliation runs here: every
second the thread works what is due on the schedule (``Reconciler.run_due``). The
schedule is in Redis with leases, so any worker picks up any due item, a worker killed
mid-run loses nothing (its lease expires, the item comes back) and work that fell due
while every worker was down runs when one comes back. Errors are one log line, and the
thread carries on: it never takes the worker down.

After each run it also drains the recording-state marks (``RecordingCounts.drain``):
what reconciliation just wrote, and what a serve or worker killed between a fact and its
count left, is counted in the batches within a second.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import httpx
import redis

from confrec.config.settings import MISSING_API_KEY, Settings
from confrec.tasks.reconcile import Reconciler
from confrec.tasks.recording_counts import RecordingCounts
from confrec.tasks.store.reconcile_budget import ReconcileBudget
from confrec.tasks.store.schedule import ReconcileSchedule
from confrec.tasks.store.throttle import default_burst
from confrec.tasks.telnyx_api import TelnyxApi
from confrec.worker.broker.clients import state_client
from confrec.worker.producing import (
    create_conferences,
    create_ledger,
    create_recording_counts,
)

log = logging.getLogger(__name__)

#: How often the thread looks at the schedule.
INTERVAL_S = 1.0
#: Members claimed per run; a full claim is followed by another at once.
CLAIM_LIMIT = 20


def build_reconciler(settings: Settings, client: redis.Redis | None = None) -> Reconciler:
    """A reconciler on these settings (needs TELNYX_API_KEY)."""
    if settings.telnyx_api_key is None:
        raise RuntimeError(MISSING_API_KEY)
    client = client or state_client(settings)
    api = TelnyxApi(
        settings.telnyx_base_url,
        settings.telnyx_api_key,
        timeout=settings.http_timeout,
        connect_timeout=settings.http_connect_timeout,
    )
    return Reconciler(
        api,
        create_conferences(settings, client),
        create_ledger(settings, client),
        ReconcileSchedule(client),
        budget=ReconcileBudget(client, rate=settings.reconcile_rate, fleet=fleet_limit(settings)),
        grace_s=settings.recording_grace_s,
        poll_s=settings.reconcile_poll_s,
        lease_s=settings.reconcile_lease_s,
        # Every call of a run, its HTTP timeout included, ends inside the lease.
        run_time_s=max(1.0, settings.reconcile_lease_s / 2 - settings.http_timeout),
    )


def fleet_limit(settings: Settings) -> tuple[float, int] | None:
    """CONFREC_RATE_LIMIT and its burst as the starts' throttle reads them; None unset."""
    rate = settings.rate_limit
    if rate is None:
        return None
    return rate, settings.rate_burst or default_burst(rate)


class ReconcilerThread:
    """Runs ``run_due`` every ``interval_s`` until stopped; a daemon, so a worker that
    exits mid-run is not held by it (the lease brings the work back)."""

    def __init__(
        self,
        build: Callable[[], Reconciler],
        *,
        interval_s: float = INTERVAL_S,
        counts: Callable[[], RecordingCounts] | None = None,
    ) -> None:
        self._build = build
        self._build_counts = counts
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="confrec-reconciler", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        reconciler: Reconciler | None = None
        counts: RecordingCounts | None = None
        while not self._stop.wait(self._interval_s):
            try:
                if reconciler is None:
                    reconciler = self._build()
                while reconciler.run_due(limit=CLAIM_LIMIT) >= CLAIM_LIMIT:
                    if self._stop.is_set():
                        break
                if self._build_counts is not None:
                    counts = counts or self._build_counts()
                    counts.drain()
            except (redis.RedisError, httpx.HTTPError) as exc:
                log.warning("reconciler: %s; retrying", type(exc).__name__)
            except Exception as exc:
                log.warning("reconciler: %s: %s; retrying", type(exc).__name__, str(exc)[:120])


_thread: ReconcilerThread | None = None
_lock = threading.Lock()


def start(settings: Settings) -> None:
    """Start this process's reconciler thread (once)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = ReconcilerThread(
                lambda: build_reconciler(settings),
                counts=lambda: create_recording_counts(settings, state_client(settings)),
            )
        _thread.start()


def stop() -> None:
    """Stop it, waiting briefly for a run in progress."""
    global _thread
    with _lock:
        if _thread is not None:
            _thread.stop()
            _thread = None
