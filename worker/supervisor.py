"""``confrec worker`` on a host of several cores: one Celery worker process per core.

One worker process runs its jobs under one GIL: at full load it used 95 % of one core
while the host's other core idled (issue 23). So, as gunicorn starts workers, ``confrec
worker`` starts ``CONFREC_WORKER_PROCESSES`` Celery workers (default: one per CPU it may
use), each with ``CONFREC_CONCURRENCY`` threads, each its own Celery node named
``<name>-<i>@<host>``. Each child is a whole ``confrec worker`` — its own broker
connections, reliable fetch, heartbeat and reconciler — so every guarantee holds per
process exactly as it did for one.

The supervisor does no work of its own. It forwards SIGTERM, SIGINT and SIGQUIT (Celery's
warm and cold shutdowns) once to each child, which runs in a process group of its own so
that a terminal's Ctrl-C reaches it only through the supervisor; and it exits when they
have. Each child dies with the supervisor (``PR_SET_PDEATHSIG``), so ``kill -9`` of the
supervisor is still the death of the whole host's worker. A child that dies after running
a while is started again; one that dies at once stops them all (a crash loop helps no one).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType

log = logging.getLogger(__name__)

#: Set in a child's environment: the supervisor's pid, so the child can ask to die with it.
PARENT_ENV = "CONFREC_WORKER_SUPERVISOR"
PROCESSES_ENV = "CONFREC_WORKER_PROCESSES"
#: A child that dies sooner than this after its start is a crash loop, not a casualty.
SETTLED_S = 10.0
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
_PR_SET_PDEATHSIG = 1


def process_count(configured: int | None, pool: str) -> int:
    """How many worker processes: as configured, else one per usable CPU for the threads
    pool. prefork already runs a process per slot, solo one job at a time by choice."""
    if configured:
        return configured
    if pool != "threads":
        return 1
    return max(1, len(os.sched_getaffinity(0)))


def expected_processes(env: Mapping[str, str], argv: Sequence[str]) -> int:
    """How many Celery worker processes ``confrec worker argv`` starts with ``env``."""
    pool = option(argv, "--pool", "-P") or env.get("CONFREC_POOL", "threads")
    return process_count(int(env.get(PROCESSES_ENV) or 0) or None, pool)


def option(argv: Sequence[str], long: str, short: str) -> str | None:
    """The last value given for an option in Celery's argv (``--x V``, ``--x=V``, ``-s V``)."""
    found = None
    for i, arg in enumerate(argv):
        if arg in (long, short) and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(f"{long}="):
            found = arg.partition("=")[2]
    return found


def child_argv(argv: Sequence[str], index: int) -> list[str]:
    """``argv`` with the node name made this child's own (``name-i@host``): Celery nodes
    with one name would be one node to Flower and to the broadcast commands."""
    name = option(argv, "--hostname", "-n") or "celery@%h"
    node, _, host = name.partition("@")
    own = f"{node}-{index}@{host or '%h'}"
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--hostname", "-n"):
            skip = True
        elif not arg.startswith("--hostname="):
            out.append(arg)
    return [*out, "--hostname", own]


def die_with_parent() -> None:
    """In a child: be killed when the supervisor dies, however it dies (Linux only)."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(parent):  # it died before the prctl: nobody would tell us
        os._exit(1)


class Supervisor:
    """Starts ``count`` children running ``command``, keeps them running, stops them."""

    def __init__(self, command: Sequence[str], count: int, env: Mapping[str, str]) -> None:
        self._command = list(command)
        self._count = count
        self._env = {**env, PROCESSES_ENV: "1", PARENT_ENV: str(os.getpid())}
        self._children: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
        self._stopping: int | None = None  # the signal that stops them, once one came

    def run(self, argv: Sequence[str]) -> int:
        """Run until every child has exited. The exit code is the first non-zero one of a
        child that exited at once or while stopping (128 + N for a signal N): a child that
        died after settling and was started again does not decide it."""
        for sig in FORWARDED:
            signal.signal(sig, self._forward)
        log.warning(
            "confrec worker: %d Celery worker processes (%s=%s), each its own node",
            self._count,
            PROCESSES_ENV,
            os.environ.get(PROCESSES_ENV, "unset: one per CPU"),
        )
        for index in range(1, self._count + 1):
            self._start(index, argv)
        code = 0
        while self._children:
            index, popen, started = self._reap()
            status = popen.returncode
            if self._stopping is None and time.monotonic() - started >= SETTLED_S:
                log.warning("worker process %d exited (%d): starting it again", index, status)
                self._start(index, argv)
                continue
            code = code or (status if status >= 0 else 128 - status)
            if self._stopping is None:
                log.error("worker process %d exited at once (%d): stopping all", index, status)
                self._forward(signal.SIGTERM, None)
        return code

    def _start(self, index: int, argv: Sequence[str]) -> None:
        popen = subprocess.Popen(
            [*self._command, *child_argv(argv, index)], env=self._env, process_group=0
        )
        self._children[index] = (popen, time.monotonic())
        if self._stopping is not None:  # a signal came while it was being started
            popen.send_signal(self._stopping)

    def _reap(self) -> tuple[int, subprocess.Popen[bytes], float]:
        """Wait for any child to exit (signals interrupt the wait and are forwarded)."""
        while True:
            pid, status = os.wait()
            for index, (popen, started) in list(self._children.items()):
                if popen.pid == pid:
                    del self._children[index]
                    popen.returncode = os.waitstatus_to_exitcode(status)
                    return index, popen, started

    def _forward(self, sig: int, _frame: FrameType | None) -> None:
        self._stopping = sig
        for popen, _ in self._children.values():
            if popen.returncode is None:
                popen.send_signal(sig)
