"""The simulator's webhook side as the ``confrec simulate`` process: it prints the public
key, delivers, exits 0 on SIGTERM (promptly, with webhooks pending) and exits 2 on a bad
webhook option. In-process options and deliveries: test_sim_webhooks_deliveries.py.

A receiver (a Starlette app, on ``serve_in_thread``) on 127.0.0.1:<free port> records
every POST; each test polls with a deadline, never sleeps to synchronize.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from nacl.signing import SigningKey

from tests.support.sim_webhooks import AUTH, SEED, SEED_B64, Receiver, free_port, verify, wait_for
from tests.support.simulator import read_lines, start

REPO = Path(__file__).resolve().parents[2]


# -- the CLI process -----------------------------------------------------------


def simulate(*args: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "confrec.worker.cli", "simulate", "--port", "0", *args]
    env = {k: v for k, v in os.environ.items() if k != "TELNYX_API_KEY"}
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=5)


def test_cli_prints_public_key_delivers_and_exits_0_on_sigterm(receiver: Receiver) -> None:
    expected = base64.b64encode(bytes(SigningKey(SEED).verify_key)).decode()
    proc = simulate(
        "--api-key",
        "k",
        "--signing-key",
        SEED_B64,
        "--webhook-url",
        receiver.url,
        "--recording-seconds",
        "0",
    )
    try:
        key_line, listening = read_lines(proc, 2, time.monotonic() + 15)
        assert key_line == f"simulator webhook public key {expected}"
        assert listening.startswith("simulator listening on http://127.0.0.1:")
        root = listening.removeprefix("simulator listening on ").removesuffix("/v2")
        with httpx.Client(base_url=root, headers=AUTH, timeout=5) as c:
            assert c.get("/_sim/public-key").json() == {"public_key": expected}
            assert start(c, "conf-cli").status_code == 200
            wait_for(lambda: len(receiver.hits()) == 1, "the webhook")
        verify(receiver.hits()[0], expected)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == b""
    finally:
        stop(proc)


def test_cli_sigterm_with_webhooks_pending_exits_0_promptly() -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"
    proc = simulate("--webhook-url", dead, "--recording-seconds", "60")
    try:
        _, listening = read_lines(proc, 2, time.monotonic() + 15)
        root = listening.removeprefix("simulator listening on ").removesuffix("/v2")
        with httpx.Client(base_url=root, headers=AUTH, timeout=5) as c:
            assert start(c, "conf-pending").status_code == 200
            assert c.get("/_sim/stats").json()["webhooks"]["pending"] == 1
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 5
    finally:
        stop(proc)


@pytest.mark.parametrize(
    ("option", "value"),
    [("--signing-key", "not base64!"), ("--signing-key", "AAAA"), ("--webhook-url", "nope")],
)
def test_cli_bad_webhook_options_exit_2(option: str, value: str) -> None:
    proc = simulate(option, value)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode == 2
    assert out == b""
    (line,) = err.decode().splitlines()
    assert line.startswith(f"error: {option}: ")
