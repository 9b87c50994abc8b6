"""hookd.core must stay sans-I/O: no module of it imports an I/O library (STYLE rule 4)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "src" / "hookd" / "core"
FORBIDDEN = {
    "asyncio",
    "sqlite3",
    "psycopg",
    "httpx",
    "starlette",
    "uvicorn",
    "os",
    "subprocess",
    "socket",
    "time",
    "random",
    "pathlib",
    "shutil",
    "tempfile",
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize(
    "module", sorted(CORE.rglob("*.py")), ids=lambda path: str(path.relative_to(CORE))
)
def test_core_module_imports_no_io_library(module: Path) -> None:
    assert not imported_roots(module) & FORBIDDEN


def test_core_imports_nothing_of_hookd_outside_core() -> None:
    for module in CORE.rglob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hookd"):
                assert node.module.startswith(("hookd.core", "hookd.errors")), (module, node.module)
