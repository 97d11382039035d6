"""What every ``confrec`` command prints and how it fails: one place, so every command
answers a user's mistake the same way — one line naming the field or variable, a
documented exit code, never a traceback.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from confrec.config.settings import Settings
from confrec.worker.exitcodes import ExitCode

out = Console()
err = Console(stderr=True, soft_wrap=True)  # one message, one line: greppable


def fail(message: str, code: ExitCode = ExitCode.INVALID) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """Settings from the environment, or a one-line error naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:
            fail(f"configuration: {message}")
        field = str(first["loc"][0]).upper()
        fail(f"{field if field.startswith('TELNYX') else 'CONFREC_' + field}: {message}")


def port_in_use(port: int, host: str, setting: str) -> NoReturn:
    where = f"address {host}" if host else "every address"
    fail(
        f"port {port} is already in use (set by {setting}; {where}): stop what listens "
        "there or choose another port",
        ExitCode.PORT_IN_USE,
    )


def listen_failure(exc: OSError, host: str, port: int, setting: str) -> NoReturn:
    """A server could not listen: ``PORT_IN_USE`` when the port is taken, else INVALID."""
    if exc.errno == errno.EADDRINUSE:
        port_in_use(port, host, setting)
    fail(f"{setting}={port}: cannot listen on {host or 'every address'}: {exc.strerror or exc}")


def check_port(host: str, port: int, setting: str) -> None:
    """Before a server starts: fail with ``PORT_IN_USE`` when another process listens on
    ``host:port``. Bound the way the servers bind (SO_REUSEADDR: a port whose last
    connections linger in TIME_WAIT is free). Other errors are left to the server."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, IndexError):
        return
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                port_in_use(port, host, setting)


def validation_failure(exc: ValidationError) -> NoReturn:
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "job"
        err.print(f"error: {field}: {error['msg']}", markup=False, highlight=False)
    raise typer.Exit(ExitCode.INVALID)


HELP_OPTIONS = ("--help", "-h")

WORKER_HELP = """\
Usage: confrec worker [OPTIONS]

  Start a worker: it takes record-start jobs from the queue CONFREC_QUEUE (default
  record_start) on CONFREC_BROKER_URL (default redis://localhost:6379/0), sends each to
  Telnyx at TELNYX_BASE_URL with TELNYX_API_KEY (required: the worker does not start
  without it) and publishes one outcome per job to CONFREC_RESULTS_STREAM on
  CONFREC_REDIS_URL (default: the broker). It runs CONFREC_WORKER_PROCESSES Celery
  workers (default: one per CPU, each a node <name>-<i>@<host>); CONFREC_POOL and
  CONFREC_CONCURRENCY choose each one's pool (default threads, 16);
  CONFREC_METRICS_PORT serves Prometheus metrics, summed over the processes.
  Every variable: docs/configuration.md. confrec passes --queues, --pool, --concurrency
  and --loglevel INFO to Celery; the same options given here win.

Celery's options follow; confrec worker takes any of them.
"""

FLOWER_HELP = """\
Usage: confrec flower [OPTIONS]

  Start Flower, the live web view of the workers and their jobs, on confrec's broker
  (CONFREC_BROKER_URL, default redis://localhost:6379/0). It refuses to run open: set
  FLOWER_BASIC_AUTH=user:password, or FLOWER_BASIC_AUTH_FILE=a file holding it (or OAuth
  with --auth); secrets are refused on the command line. It listens on --port (default
  5555) and --address (default 127.0.0.1: loopback only). Any option below may also come
  from the environment as FLOWER_<NAME> (FLOWER_PORT=5556).

Flower's options follow (--option=value or --option value).
"""


def help_if_asked(args: list[str], text: Callable[[], str]) -> None:
    """``--help`` among a pass-through command's arguments: print ``text()``, exit 0,
    before any setting is read (help needs no environment)."""
    if any(arg in HELP_OPTIONS for arg in args):
        print(text())
        raise typer.Exit(ExitCode.OK)


def worker_help() -> str:
    return WORKER_HELP + "\n" + celery_worker_options()


def celery_worker_options() -> str:
    """``celery worker --help`` from its first group of options on: Celery's usage line and
    examples (``celery --app=proj worker``) are not how confrec is run. Needs no settings."""
    import contextlib
    import io

    from celery import Celery

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        Celery("confrec", set_as_current=False).worker_main(["worker", "--help"])
    lines = text.getvalue().splitlines()
    first = next((i for i, line in enumerate(lines) if line.endswith("Options:")), 0)
    return "\n".join(lines[first:])
