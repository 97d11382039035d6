"""The layout docs/architecture.md describes, checked against the code: every module of
``confrec`` is in its table, and imports between the packages point one way."""

from __future__ import annotations

import ast
import re
from pathlib import Path

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


def modules() -> dict[str, Path]:
    """``package/module.py`` → path, for every module of every package."""
    return {
        f"{package}/{path.name}": path
        for package in PACKAGES
        for path in sorted((ROOT / package).glob("*.py"))
    }


def confrec_imports(path: Path) -> set[str]:
    """The confrec modules a file imports (``tasks.job``, ``config.keys``, …), or the
    package (``simulator``) when it imports a name from a package's ``__init__``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module.count(".") == 1:  # from confrec.tasks.store import keys
                package = node.module.split(".")[1]
                names = [
                    f"{node.module}.{alias.name}"
                    if (ROOT / package / f"{alias.name}.py").exists()
                    else node.module
                    for alias in node.names
                ]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name.removeprefix("confrec.") for name in names if name.startswith("confrec.")}
    return found


def test_no_module_imports_a_top_level_package_of_the_tree() -> None:
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert node.module.split(".")[0] not in PACKAGES, f"{name}: {node.module}"


def test_dependencies_point_one_way() -> None:
    for name, path in modules().items():
        package = name.split("/")[0]
        for imported in confrec_imports(path):
            target = imported.split(".")[0]
            assert target in MAY_IMPORT[package], f"{name} imports {imported}"


def test_the_architecture_table_lists_every_module_and_its_imports() -> None:
    """Rows of docs/architecture.md's module table: | `package/module.py` | uses | what |."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+/\w+\.py)` \| ([^|]*) \|", text, re.MULTILINE))
    documented = set(rows) | {n for n in modules() if n.endswith("/__init__.py")}
    assert documented == set(modules())
    for name, uses in rows.items():
        package = name.split("/")[0]
        code = confrec_imports(modules()[name])
        listed = {u.strip("` ") for u in uses.split(",") if u.strip("` -")}
        shown = {u if "." in u or u in PACKAGES else f"{package}.{u}" for u in listed}
        assert shown == code, f"{name}: the table says {sorted(shown)}, the code {sorted(code)}"
