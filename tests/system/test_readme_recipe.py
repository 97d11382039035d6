"""The README's "A local run by hand", taken from the README itself and run as a newcomer
pastes it: bash at the repo root, .venv from the Quick start, nothing of ours in the
environment. It must end with the job's recording saved, and its last line must stop
everything it started; whatever happens, the test kills what is left (its process group)
and checks the private Redis is gone."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## A local run by hand"
TIMEOUT_S = 120
#: The environment of a fresh shell: none of confrec's, Telnyx's or Celery's variables.
OURS = ("CONFREC_", "TELNYX_", "CELERY_", "FLOWER_")

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("redis-server", "redis-cli", "curl")),
    reason="the README's recipe uses redis-server, redis-cli and curl (Debian: apt-get "
    "install redis-server curl)",
)


def recipe() -> str:
    """The one ```bash block under the README's "A local run by hand" heading."""
    text = (ROOT / "README.md").read_text()
    assert f"\n{HEADING}\n" in text, f"README.md has no {HEADING!r} section"
    section = text.split(f"\n{HEADING}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```$", section, re.M | re.S)
    assert len(blocks) == 1, f"{HEADING!r} should hold one ```bash block, found {len(blocks)}"
    return str(blocks[0])


@dataclass
class Run:
    returncode: int | None
    output: str
    group_left_running: bool
    """True when processes of the recipe's group outlived its shell (the test killed them)."""


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user reuses the id: not ours
        return False
    return True


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def redis_port(output: str) -> int | None:
    """The recipe's redis-server port, from its log (the recipe prints the log dir)."""
    logs = re.search(r"^logs in (\S+)$", output, re.M)
    log = Path(logs.group(1)) / "redis.log" if logs else None
    if log is None or not log.exists():
        return None
    found = re.search(r"\bport=(\d+)", log.read_text(errors="replace"))
    return int(found.group(1)) if found else None


def run_recipe(script: str, tmp_path: Path) -> Run:
    """Run ``script`` with ``bash -euo pipefail`` in a process group of its own, at most
    TIMEOUT_S; then stop whatever of the group is left and check its Redis is closed."""
    venv_bin = ROOT / ".venv" / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    env.pop("VIRTUAL_ENV", None)
    env |= {"PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}", "TMPDIR": str(tmp_path)}
    out_path = tmp_path / "recipe.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: everything it starts is in it
        )
    pgid = proc.pid
    returncode: int | None = None
    left_running = False
    try:
        with contextlib.suppress(subprocess.TimeoutExpired):
            returncode = proc.wait(TIMEOUT_S)
        # What the recipe started must be gone once its shell is (its last line stops it).
        with contextlib.suppress(AssertionError):
            wait_until(lambda: not group_alive(pgid), 2, "the recipe's processes stopped")
        left_running = group_alive(pgid)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(AssertionError):
            wait_until(lambda: not group_alive(pgid), 15, "the recipe's group after SIGTERM")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait(10)
        wait_until(lambda: not group_alive(pgid), 10, "the recipe's group after SIGKILL")
    output = out_path.read_text(errors="replace")
    port = redis_port(output)
    if port is not None:
        wait_until(lambda: not port_open(port), 10, f"the recipe's redis-server :{port} closed")
    return Run(returncode, output, left_running)


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_the_readmes_local_recipe_runs_a_job_to_a_saved_recording(tmp_path: Path) -> None:
    run = run_recipe(recipe(), tmp_path)
    assert run.returncode == 0, f"the recipe failed (exit {run.returncode}):\n{run.output}"
    statuses = run.output.split("\njob_id ")
    assert len(statuses) > 1, f"the recipe printed no job status:\n{run.output}"
    last = statuses[-1]
    assert re.search(r"^state +finished$", last, re.M), run.output
    assert re.search(r"^outcome .* succeeded ok ", last, re.M), run.output
    assert re.search(r"^recording +saved$", last, re.M), run.output
    assert re.search(r"^recording_id +\S+ wav webhook https?://\S+\.wav(\?\S*)?$", last, re.M), (
        f"the last status shows no saved recording:\n{run.output}"
    )
    assert not run.group_left_running, "the recipe's last line left processes running"
    assert redis_port(run.output) is not None, "no redis-server port in the recipe's redis.log"


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_a_failing_recipe_is_reported_and_leaves_nothing_running(tmp_path: Path) -> None:
    """The harness itself: a copy of the recipe whose last status asks for an unknown job
    fails (exit 5, set -e) with redis, simulator, serve and worker still up, and the test
    stops them all."""
    script = recipe()
    assert 'confrec status "$JOB"\n' in script
    broken = script.replace('confrec status "$JOB"\n', "confrec status no-such-job\n")
    run = run_recipe(broken, tmp_path)
    assert run.returncode == 5, run.output
    assert run.group_left_running, "the broken copy should have left its parts running"
    assert redis_port(run.output) is not None, run.output
