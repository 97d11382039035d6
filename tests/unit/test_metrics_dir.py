"""The worker's Prometheus multiprocess folders (worker/metrics_server.py): one per
worker under a folder of this user's, and those of workers no longer running removed at
the next start — also when their pid now belongs to another process."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from confrec.worker.metrics_server import _start_stamp, metrics_directory


def test_dead_and_reused_pids_folders_go_running_ones_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    parent = tmp_path / f"confrec-metrics-{os.getuid()}"
    parent.mkdir(mode=0o700)
    parent_pid = os.getppid()
    running = parent / f"{parent_pid}-{_start_stamp(parent_pid)}"
    reused = parent / f"{parent_pid}-1"  # same pid, another start: a process long gone
    dead = parent / f"{2**22 + 1}-5"  # above Linux's largest pid
    for folder in (running, reused, dead):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"x")
    mine = Path(metrics_directory())
    assert mine == parent / f"{os.getpid()}-{_start_stamp(os.getpid())}"
    assert mine.is_dir() and running.is_dir()
    assert not reused.exists() and not dead.exists()


def test_a_parent_that_is_not_a_folder_of_ours_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / f"confrec-metrics-{os.getuid()}").symlink_to(elsewhere)
    mine = Path(metrics_directory())
    assert mine.parent == tmp_path and mine.name.startswith("confrec-metrics-")
    assert list(elsewhere.iterdir()) == []
