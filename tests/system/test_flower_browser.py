"""Flower's tasks page in a real browser (headless Debian chromium): the table Flower
fills by JavaScript shows each job with its state, conference and outcome reason, and its
"Failed" filter (``/tasks?state=FAILURE``) holds the rejected job and none of the others;
the job's own page says why it failed, with no traceback."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from confrec.worker.local.processes import wait_until
from tests.support.browser import CHROMIUM, FLAGS
from tests.support.flower import PASSWORD, USER, Flower, job_states, watching
from tests.support.system import System, unique

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def dump_dom(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran (virtual time: no waiting on the clock)."""
    argv = [
        str(CHROMIUM),
        *FLAGS,
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout


def rows(dom: str) -> dict[str, str]:
    """The tasks table's rows, by the job id DataTables puts in each row's id."""
    return dict(re.findall(r'<tr id="([0-9a-f-]{36})"[^>]*>(.*?)</tr>', dom, re.DOTALL))


def test_the_tasks_page_shows_each_job_with_its_state(
    system: System, flower: Flower, tmp_path: Path
) -> None:
    wait_until(lambda: watching(flower, system), 20, "flower seeing the workers' task events")
    conferences = [unique(), unique(), unique("ended-")]
    *succeeded, rejected = system.enqueue(conferences)
    system.outcomes([*succeeded, rejected])
    expected = {job_id: "SUCCESS" for job_id in succeeded} | {rejected: "FAILURE"}
    wait_until(lambda: job_states(flower, list(expected)) == expected, 15, "flower's task states")
    base = flower.root.replace("://", f"://{USER}:{PASSWORD}@")
    pages: dict[str, dict[str, str]] = {}

    def shown(path: str, jobs: dict[str, str]) -> bool:
        pages[path] = rows(dump_dom(f"{base}{path}", tmp_path / "profile"))
        return all(state in pages[path].get(job_id, "") for job_id, state in jobs.items())

    wait_until(lambda: shown("/tasks", expected), 90, "the tasks page showing every job", 0.5)
    wait_until(lambda: shown("/tasks?state=FAILURE", {rejected: "FAILURE"}), 60, "Failed", 0.5)
    assert not set(succeeded) & set(pages["/tasks?state=FAILURE"])
    ended = "rejected: 422 90019 Conference has already ended (attempts 1)"
    reasons = ["ok (attempts 1)", "ok (attempts 1)", ended]
    for job_id, conference, reason in zip(
        [*succeeded, rejected], conferences, reasons, strict=True
    ):
        row = pages["/tasks"][job_id]  # the conference (args column) and the reason (Result)
        assert f">conference={conference}<" in row and f">{reason}<" in row, row
    detail = dump_dom(f"{base}/task/{rejected}", tmp_path / "profile")  # the job's own page
    assert ended in detail
    assert "<dt>Traceback</dt>" not in detail and "most recent call last" not in detail
