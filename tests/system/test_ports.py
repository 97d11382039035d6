"""A port another process already listens on: every ``confrec`` command that listens exits
with ``PORT_IN_USE`` and one line naming the port and the option or variable that sets it
(not the broker's exit code, not a traceback)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from confrec.worker.exitcodes import ExitCode
from confrec.worker.local.processes import CONFREC

#: What each command needs to get as far as listening; nothing it names is running.
NOWHERE = {"CONFREC_BROKER_URL": "redis://127.0.0.1:9/0", "TELNYX_API_KEY": "KEYnot-used"}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port of loopback that a socket of this test listens on until the test ends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONFREC, *args],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "setting"),
    [
        (["simulate", "--port", "{port}"], {}, "--port"),
        (["serve", "--port", "{port}"], {"CONFREC_API_TOKENS": "t0ken"}, "--port"),
        (
            ["flower", "--port", "{port}", "--address", "127.0.0.1"],
            {"FLOWER_BASIC_AUTH": "user:secret"},
            "--port or FLOWER_PORT",
        ),
        (
            ["flower", "--address=127.0.0.1"],
            {"FLOWER_BASIC_AUTH": "user:secret", "FLOWER_PORT": "{port}"},
            "--port or FLOWER_PORT",
        ),
        (["worker"], {"CONFREC_METRICS_PORT": "{port}"}, "CONFREC_METRICS_PORT"),
    ],
    ids=["simulate", "serve", "flower", "flower-env", "worker-metrics"],
)
def test_a_port_in_use_has_its_own_exit_code_and_one_line(
    taken_port: int, tmp_path: Path, args: list[str], env: dict[str, str], setting: str
) -> None:
    port = str(taken_port)
    argv = [a.replace("{port}", port) for a in args]
    env = {**NOWHERE, **{k: v.replace("{port}", port) for k, v in env.items()}}
    result = run(argv, env, tmp_path)
    assert result.returncode == ExitCode.PORT_IN_USE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: port {port} is already in use"), lines[0]
    assert f"(set by {setting}" in lines[0]
    assert "Traceback" not in result.stderr and "user:secret" not in result.stderr
