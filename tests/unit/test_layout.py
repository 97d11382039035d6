"""The layout docs/architecture.md describes, checked against the code: every module of
``confrec`` is in its table with the confrec modules it imports, imports between packages
and between the runtime's subpackages point one way, and only the modules named for it
import Celery, kombu, FastAPI or prometheus_client; and no module, of the tests and the
benchmarks too, is over 300 lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "tasks", "service", "worker", "simulator")
#: What each package may import of confrec: runtime → service → domain → names, and the
#: simulator (Telnyx's side) on its own; only the CLI starts it.
MAY_IMPORT = {
    "config": {"config"},
    "tasks": {"config", "tasks"},
    "service": {"config", "tasks", "service"},
    "simulator": {"simulator"},
    "worker": {"config", "tasks", "service", "worker", "simulator"},
}
#: Inside the runtime: the CLI on top; the demo's local stacks; the batch tools; the
#: runtime's own modules (``worker/*.py``); the broker extension at the bottom.
WORKER_MAY_IMPORT = {
    "cli": {"cli", "local", "batches", "runtime", "broker"},
    "local": {"local", "batches", "runtime", "broker"},
    "batches": {"batches", "runtime", "broker"},
    "runtime": {"runtime", "broker"},
    "broker": {"broker"},
}
#: Third-party frameworks, and the only places that may import them (a folder ends in /).
#: The domain speaks Celery and kombu only where it publishes and redelivers.
FRAMEWORKS = {
    "celery": {"worker/", "tasks/publishing/", "tasks/redelivery.py"},
    "kombu": {"worker/", "tasks/publishing/", "config/settings.py"},
    "amqp": {"worker/metrics_server.py"},
    "fastapi": {"service/"},
    "starlette": {"service/", "simulator/"},
    "uvicorn": {"simulator/"},
    "granian": {"worker/serve.py"},
    "prometheus_client": {
        "tasks/metrics.py",
        "service/app.py",
        "service/metrics.py",
        "worker/metrics_server.py",
    },
}


def modules() -> dict[str, Path]:
    """``package/…/module.py`` → path, for every module of every package."""
    return {
        path.relative_to(ROOT).as_posix(): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def imports(path: Path) -> set[str]:
    """Every module name a file imports (``celery.exceptions``, ``confrec.tasks.job``, …);
    ``from confrec.tasks.store import keys`` counts as ``confrec.tasks.store.keys``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            folder = ROOT.joinpath(*node.module.split(".")[1:])
            found |= {
                f"{node.module}.{alias.name}"
                if node.module.startswith("confrec.") and (folder / f"{alias.name}.py").exists()
                else node.module
                for alias in node.names
            }
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def confrec_imports(path: Path) -> set[str]:
    """The confrec modules (or packages) a file imports, without the ``confrec.``."""
    return {n.removeprefix("confrec.") for n in imports(path) if n.startswith("confrec.")}


def worker_part(name: str) -> str:
    """``worker/cli/commands.py`` → ``cli``; ``worker/app.py`` → ``runtime``."""
    parts = name.replace(".", "/").split("/")
    return parts[1] if len(parts) > 2 and parts[1] in WORKER_MAY_IMPORT else "runtime"


def test_no_module_imports_a_top_level_package_of_the_tree() -> None:
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert node.module.split(".")[0] not in PACKAGES, f"{name}: {node.module}"


def test_dependencies_point_one_way() -> None:
    for name, path in modules().items():
        package = name.split("/")[0]
        for imported in confrec_imports(path):
            assert imported.split(".")[0] in MAY_IMPORT[package], f"{name} imports {imported}"


def test_inside_the_runtime_dependencies_point_one_way() -> None:
    for name, path in modules().items():
        if not name.startswith("worker/"):
            continue
        allowed = WORKER_MAY_IMPORT[worker_part(name)]
        for imported in confrec_imports(path):
            if imported.startswith("worker."):
                part = worker_part(imported)
                assert part in allowed, f"{name} ({worker_part(name)}) imports {imported}"


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_only_the_modules_named_for_it_import_a_framework(framework: str) -> None:
    allowed = FRAMEWORKS[framework]
    importers = {
        name
        for name, path in modules().items()
        if any(n == framework or n.startswith(f"{framework}.") for n in imports(path))
    }
    stray = {n for n in importers if not any(n.startswith(a) for a in allowed)}
    assert not stray, f"{framework} imported outside {sorted(allowed)}: {sorted(stray)}"
    unused = {a for a in allowed if not any(n.startswith(a) for n in importers)}
    assert not unused, f"{framework}: listed for {sorted(unused)}, which no longer import it"


def test_the_architecture_table_lists_every_module_and_its_imports() -> None:
    """Rows of docs/architecture.md's module table: | `package/…/module.py` | uses | what |.
    "uses" names modules of the same package relative to it (``store.ledger``, ``job``)
    and others by their dotted name (``config.settings``)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows = dict(re.findall(r"^\| `([\w/]+\.py)` \| ([^|]*) \|", text, re.MULTILINE))
    documented = set(rows) | {n for n in modules() if n.endswith("/__init__.py")}
    assert documented == set(modules())
    for name, uses in rows.items():
        package = name.split("/")[0]
        code = confrec_imports(modules()[name])
        listed = {u.strip("` ") for u in uses.split(",") if u.strip("` -")}
        shown = {u if u.split(".")[0] in PACKAGES else f"{package}.{u}" for u in listed}
        assert shown == code, f"{name}: the table says {sorted(shown)}, the code {sorted(code)}"


def test_no_module_is_over_300_lines() -> None:
    """Every module of the packages, of the tests and of the benchmarks."""
    checked = modules() | {
        path.relative_to(ROOT).as_posix(): path
        for folder in ("tests", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
    }
    assert {name.split("/")[0] for name in checked} >= {"tests", "bench"}
    long = {n: len(p.read_text().splitlines()) for n, p in checked.items()}
    assert {n: lines for n, lines in long.items() if lines > 300} == {}
