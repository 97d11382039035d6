"""Run Flower on confrec's broker, refusing to start without authentication.

Flower shows every job's kwargs and can revoke tasks or shut workers down, so an open
instance is a control panel for anyone who can reach the port: ``confrec flower`` starts
only when basic auth (``FLOWER_BASIC_AUTH=user:password``, read by Flower itself, or
the file ``FLOWER_BASIC_AUTH_FILE`` names) or OAuth (``--auth``) is configured, and never
with a secret on its command line, which every local user can read (``/proc/PID/cmdline``).
It listens on loopback unless given ``--address``/``FLOWER_ADDRESS``. The broker comes
from Settings, like every confrec command. Workers send task events only once asked;
Flower asks every second here (``ENABLE_EVENTS_EVERY_MS``). Flower's own parser drops the
value of ``--port 5555`` (it wants ``--port=5555``); ``flower_args`` joins such pairs so
both spellings work. The tasks table shows each job's conference and outcome reason
(``confrec.worker.flower_tasks``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from confrec.config.settings import Settings

#: How often Flower asks every worker to send task events (Celery's ``enable_events``;
#: Flower's own default is 5 s). Workers send none until asked, so this bounds how long a
#: worker — one already running when Flower starts, or one started after — goes unseen.
ENABLE_EVENTS_EVERY_MS = 1000

#: Environment variables through which Flower enables authentication.
AUTH_ENV = ("FLOWER_BASIC_AUTH", "FLOWER_AUTH")
#: Command-line options through which Flower enables authentication.
AUTH_OPTIONS = ("basic-auth", "auth")
#: Flower's options that carry a secret, refused on the command line: each one's variable.
SECRET_OPTIONS = {
    "basic-auth": "FLOWER_BASIC_AUTH",
    "oauth2-secret": "FLOWER_OAUTH2_SECRET",
    "cookie-secret": "FLOWER_COOKIE_SECRET",
}
#: A file holding ``user:password`` (its first line), for when FLOWER_BASIC_AUTH is unset.
AUTH_FILE_ENV = "FLOWER_BASIC_AUTH_FILE"


def _option_name(arg: str) -> str:
    """``--basic_auth=x`` → ``basic-auth`` (tornado's normalized spelling)."""
    return arg.lstrip("-").partition("=")[0].replace("_", "-")


def _takes_value(name: str) -> bool:
    """True for a known Flower/tornado option that is not a boolean flag."""
    from tornado.options import options

    importlib.import_module("flower.options")  # defines Flower's options in tornado's registry

    known = getattr(options, "_options", {})  # tornado keeps no public type lookup
    option = known.get(name)
    return option is not None and option.type is not bool


def flower_args(args: Sequence[str]) -> list[str]:
    """The arguments with every ``--option value`` pair joined into ``--option=value``."""
    joined: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        has_next = i + 1 < len(args) and not args[i + 1].startswith("-")
        if arg.startswith("-") and "=" not in arg and has_next and _takes_value(_option_name(arg)):
            joined.append(f"{arg}={args[i + 1]}")
            i += 2
        else:
            joined.append(arg)
            i += 1
    return joined


#: Flower's port, and confrec's address: loopback unless told otherwise (Flower's own
#: default is every address).
DEFAULT_PORT = 5555
DEFAULT_ADDRESS = "127.0.0.1"


def listen_address(args: Sequence[str], environ: Mapping[str, str] = os.environ) -> tuple[str, int]:
    """The address and port Flower will listen on: ``--address``/``--port`` (either
    spelling, as ``flower_args`` joins them), else ``FLOWER_ADDRESS``/``FLOWER_PORT``, else
    127.0.0.1 and 5555. A port that is not a number is left to Flower to refuse."""
    given = {"address": environ.get("FLOWER_ADDRESS", ""), "port": environ.get("FLOWER_PORT", "")}
    for arg in flower_args(args):
        name, equals, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and equals and name in given:
            given[name] = value
    port = given["port"].strip()
    address = given["address"].strip() or DEFAULT_ADDRESS
    return address, int(port) if port.isdigit() else DEFAULT_PORT


def options_help() -> str:
    """Flower's own options, one line each, as its ``--help`` would list them (without
    tornado's logging options, and without the random default of ``--cookie-secret``)."""
    from tornado.options import options

    importlib.import_module("flower.options")
    lines = []
    for option in sorted(getattr(options, "_options", {}).values(), key=lambda o: o.name):
        if "flower" not in (option.group_name or ""):
            continue
        name, default = option.name.replace("_", "-"), option.default
        hidden = default in (None, "", []) or name == "cookie-secret"
        shown = "" if hidden else f" (default {default})"
        lines.append(f"  --{name:<28} {option.help or ''}{shown}")
    return "\n".join(lines)


def secret_on_argv(args: Sequence[str]) -> str | None:
    """Why these arguments must be refused: one names a secret option (never quoting it)."""
    for arg in args:
        env = SECRET_OPTIONS.get(_option_name(arg)) if arg.startswith("-") else None
        if env:
            return (
                f"--{_option_name(arg)} would show the secret to every local user "
                f"(/proc/PID/cmdline); set {env} instead"
            )
    return None


def load_auth_file(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """``FLOWER_BASIC_AUTH`` from the file ``FLOWER_BASIC_AUTH_FILE`` names, unless it is
    set already; returns why the file cannot be read, or None."""
    path = environ.get(AUTH_FILE_ENV, "").strip()
    if not path or environ.get("FLOWER_BASIC_AUTH", "").strip():
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return f"{AUTH_FILE_ENV}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
    environ["FLOWER_BASIC_AUTH"] = lines[0].strip() if lines else ""
    return None


def auth_problem(args: Sequence[str], environ: Mapping[str, str] = os.environ) -> str | None:
    """Why Flower must not start with this configuration, or None if auth is on.

    Never quotes the configured credentials.
    """
    from_args = any(a.startswith("-") and _option_name(a) in AUTH_OPTIONS for a in args)
    if not from_args and not any(environ.get(name, "").strip() for name in AUTH_ENV):
        return "FLOWER_BASIC_AUTH is not set (user:password); Flower must not run open"
    basic = environ.get("FLOWER_BASIC_AUTH", "").strip()
    if basic:
        for entry in basic.split(","):
            user, colon, password = entry.partition(":")
            if not (user and colon and password):
                return "FLOWER_BASIC_AUTH must be user:password (comma-separated for several)"
    return None


def run_flower(settings: Settings, args: Sequence[str]) -> int:
    """Run Flower in this process until it is stopped; returns its exit code."""
    from flower.events import Events  # type: ignore[import-untyped]
    from tornado.options import options

    from confrec.worker.app import create_app
    from confrec.worker.flower_tasks import TASKS_COLUMNS, format_job

    Events.events_enable_interval = ENABLE_EVENTS_EVERY_MS  # a class setting, no option
    importlib.import_module("flower.options")  # defines the two options set below
    # Defaults only: FLOWER_* variables, the command line and a config file set them after.
    options.tasks_columns = TASKS_COLUMNS  # conference (args) and reason (result) shown
    options.format_task = format_job
    address = f"--address={listen_address(args)[0]}"  # before args: theirs win
    code: Any = create_app(settings).start(["flower", *flower_args([address, *args])])
    return int(code or 0)
