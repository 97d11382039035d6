"""``--help`` of every ``confrec`` command works from a shell with nothing configured, and
the commands that hand their options to Celery or Flower explain confrec's part first."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from confrec.worker.cli.commands import cli
from confrec.worker.local.processes import CONFREC


def command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the ``confrec`` app, sub-commands of groups included (typer's
    click command objects: a group is one with ``commands``)."""
    paths: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if getattr(command, "commands", None):
            paths += command_paths(command, (*prefix, name))
    return paths


COMMANDS = command_paths(typer.main.get_group(cli))


def help_of(args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``confrec ARGS --help`` as after ``env -i``: no TELNYX_*, no CONFREC_*, no FLOWER_*."""
    return subprocess.run(
        [*CONFREC, *args, "--help"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_app_has_the_commands_of_the_contract() -> None:
    names = {path[0] for path in COMMANDS}
    assert {"worker", "enqueue", "bulk", "results", "simulate", "serve", "flower"} <= names


@pytest.mark.parametrize("args", [(), *COMMANDS], ids=lambda a: " ".join(a) or "confrec")
def test_help_works_with_an_empty_environment(args: tuple[str, ...], tmp_path: Path) -> None:
    result = help_of(args, tmp_path)
    assert result.returncode == 0, result.stderr
    usage = " ".join(["Usage: confrec", *args])
    assert " ".join(result.stdout.split()).startswith(usage), result.stdout
    assert "error" not in result.stderr.lower(), result.stderr


@pytest.mark.parametrize(
    ("command", "ours", "theirs", "their_option"),
    [
        (
            "worker",
            ["TELNYX_API_KEY", "CONFREC_BROKER_URL"],
            "Celery's options follow",
            "--hostname",
        ),
        (
            "flower",
            ["FLOWER_BASIC_AUTH", "CONFREC_BROKER_URL"],
            "Flower's options follow",
            "--port",
        ),
    ],
)
def test_passthrough_help_explains_confrec_first(
    command: str, ours: list[str], theirs: str, their_option: str, tmp_path: Path
) -> None:
    text = help_of((command,), tmp_path).stdout
    assert theirs in text, text
    head, _, tail = text.partition(theirs)
    for name in ours:
        assert name in head, f"{name} not explained before {theirs!r}:\n{text}"
    assert their_option in tail
    assert "celery --app=proj" not in text and "celery -A proj" not in text
    secret = [line for line in text.splitlines() if "--cookie-secret" in line]
    assert all("default" not in line for line in secret), secret  # random, made per process
