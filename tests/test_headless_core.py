"""The core (model, store, engine, scoring, runner) never imports Textual, nor the API
server's frameworks; the adapters (tui, cli, api) never import each other's insides, and
the API talks to SQLite and Podman only through the core.

Checked twice: statically, over every import statement in the core's source, and at run
time, by importing the core in a fresh interpreter and looking at ``sys.modules``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sandbench

PACKAGE = Path(sandbench.__file__).parent
CORE = ("model", "store", "engine", "scoring", "runner")
UI_LIBRARIES = ("textual", "rich", "textual_plotext", "plotext")
SERVER_LIBRARIES = ("fastapi", "starlette", "hypercorn", "uvicorn", "ray", "anyio")


def core_packages() -> list[str]:
    return [name for name in CORE if (PACKAGE / name).is_dir()]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_packages_exist() -> None:
    assert {"model", "store"} <= set(core_packages())


def test_core_source_has_no_ui_imports() -> None:
    offenders = []
    for name in core_packages():
        for path in (PACKAGE / name).rglob("*.py"):
            for module in imported_modules(path):
                root = module.split(".")[0]
                if root in UI_LIBRARIES or module.startswith("sandbench.tui"):
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert offenders == []


def test_core_source_has_no_server_imports() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for name in core_packages()
        for path in (PACKAGE / name).rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in SERVER_LIBRARIES or module.startswith("sandbench.api")
    ]
    assert offenders == []


def test_the_api_is_an_adapter_over_the_core() -> None:
    """No SQLite or Podman in the API (routes call the core), and no TUI or CLI in it."""
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in (PACKAGE / "api").rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in ("sqlite3", "podman", "textual")
        or module.startswith(("sandbench.tui", "sandbench.cli"))
    ]
    assert offenders == []
    tui_offenders = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in (PACKAGE / "tui").rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in SERVER_LIBRARIES or module.startswith("sandbench.api")
    ]
    assert tui_offenders == []


def test_importing_the_core_loads_no_textual() -> None:
    """At run time only Textual is checked: podman-py itself imports rich for progress bars."""
    modules = ", ".join(f"sandbench.{name}" for name in core_packages())
    code = (
        f"import sys, importlib\n"
        f"for m in '{modules}'.split(', '): importlib.import_module(m)\n"
        f"import sandbench.config, sandbench.paths\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual')\n"
        f"print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from textual.app import App\nimport rich\n")
    assert imported_modules(bad) == {"textual.app", "rich"}
