"""The Telnyx simulator's ``run()`` (simulator/) as a process: it prints its public key
and port, answers, and exits 0 on SIGTERM or SIGINT with nothing on stderr."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.simulator import read_lines

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_prints_port_and_exits_cleanly(sig: signal.Signals) -> None:
    code = (
        "from confrec.simulator import SimOptions, run; "
        "run(SimOptions(api_key='k', latency_ms=1), port=0)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        key_line, line = read_lines(proc, 2, time.monotonic() + 10)
        assert key_line.startswith("simulator webhook public key "), key_line
        prefix = "simulator listening on http://127.0.0.1:"
        assert line.startswith(prefix) and line.endswith("/v2"), line
        port = int(line[len(prefix) : -len("/v2")])
        assert port > 0
        base = line.removeprefix("simulator listening on ")
        r = httpx.post(
            base + "/conferences/x/actions/record_start",
            json={"format": "wav"},
            headers={"Authorization": "Bearer k"},
            timeout=5,
        )
        assert r.status_code == 200
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
