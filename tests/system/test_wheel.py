"""The wheel puts ``confrec`` alone into site-packages: beside an application that has its
own ``config`` and ``tasks`` packages, both import, and the installed CLI and worker run
a job end to end (the task, the transport and the entry point resolve by their names)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from confrec.worker.local.processes import start_worker
from tests.support.system import System, unique

ROOT = Path(__file__).resolve().parents[2]
#: What a build must not see: local state that a stale copy would leak into the wheel.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".confrec"
)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    app: Path

    def run(
        self, *argv: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A command of the fresh venv, from inside the application's directory."""
        clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return subprocess.run(
            [str(self.venv / "bin" / argv[0]), *argv[1:]],
            cwd=self.app,
            env={**clean, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _step(*argv: str | Path, cwd: Path | None = None) -> None:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """The wheel, built from a clean copy of this tree, in a new venv beside an app."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_SOURCE)
    _step(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "-w", base / "dist", source)  # fmt: skip
    (wheel,) = (base / "dist").glob("confrec-*.whl")
    venv = base / "venv"
    _step(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _step(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", wheel)
    # confrec's dependencies come from this environment's site-packages, as a plain path:
    # a .pth line adds no import hooks, so this checkout's editable confrec stays out.
    where = "import site; print(site.getsitepackages()[0])"
    site = Path(subprocess.check_output([python, "-c", where], text=True, timeout=30).strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    app = base / "app"
    for package in ("config", "tasks"):
        (app / package).mkdir(parents=True)
        (app / package / "__init__.py").write_text(f'WHO = "the application\'s {package}"\n')
    (app / "tasks" / "record_start.py").write_text('WHO = "the application\'s task"\n')
    yield Installed(wheel, venv, app)


def test_the_wheel_holds_confrec_alone_and_every_module(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"confrec", "confrec-0.1.0.dist-info"}
    packaged = {name for name in names if name.endswith(".py")}
    in_tree = {  # through the links to the top-level folders
        str(Path(folder, name).relative_to(ROOT))
        for folder, _, files in os.walk(ROOT / "confrec", followlinks=True)
        for name in files
        if name.endswith(".py")
    }
    assert len(in_tree) > 30
    assert packaged == in_tree


def test_the_apps_packages_and_confrecs_import_side_by_side(installed: Installed) -> None:
    probe = (
        "import json, config, tasks, tasks.record_start, confrec, confrec.worker.app, "
        "confrec.tasks.record_start; "
        "print(json.dumps([config.WHO, tasks.WHO, tasks.record_start.WHO, confrec.__file__, "
        "confrec.tasks.record_start.__file__, confrec.worker.app.app.conf.broker_transport]))"
    )
    done = installed.run("python", "-c", probe, env={"CONFREC_BROKER_URL": "redis://x:1/0"})
    assert done.returncode == 0, done.stderr
    app_config, app_tasks, app_task, root, task, transport = json.loads(done.stdout)
    assert (app_config, app_tasks, app_task) == (
        "the application's config",
        "the application's tasks",
        "the application's task",
    )
    assert Path(root).is_relative_to(installed.venv)  # not this checkout
    assert Path(task).is_relative_to(installed.venv)
    assert transport == "confrec.worker.broker.transport:ReliableTransport"


def test_the_installed_cli_and_worker_run_a_job(
    installed: Installed, isolated: Callable[..., System]
) -> None:
    system = isolated()
    conference = unique("wheel-")
    sent = installed.run(
        "confrec", "enqueue", conference, "--format", "wav", "--json", env=system.env
    )
    assert sent.returncode == 0, sent.stderr
    job_id = json.loads(sent.stdout)["job_id"]
    bad = installed.run("confrec", "enqueue", "c", "--format", "ogg", env=system.env)
    assert (bad.returncode, bad.stderr.startswith("error: format")) == (2, True), bad.stderr

    command = [str(installed.venv / "bin" / "confrec")]
    worker = start_worker(installed.app, "wheel", {**system.env, "PYTHONPATH": ""}, command=command)
    try:
        outcome = system.outcome(job_id, timeout=60)
    finally:
        worker.stop()
    assert (outcome.status, outcome.reason, outcome.conference_id) == (
        "succeeded",
        "ok",
        conference,
    )
    assert len(system.sim_requests(conference)) == 1
