"""What every ``confrec`` command prints and how it fails: one place, so every command
answers a user's mistake the same way — one line naming the field or variable, a
documented exit code, never a traceback.
"""

from __future__ import annotations

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


def validation_failure(exc: ValidationError) -> NoReturn:
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "job"
        err.print(f"error: {field}: {error['msg']}", markup=False, highlight=False)
    raise typer.Exit(ExitCode.INVALID)
