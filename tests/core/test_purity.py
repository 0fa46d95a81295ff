"""The core stays sans-I/O: no sockets, clocks, sleeps or event loops in its imports."""

from __future__ import annotations

import ast
from pathlib import Path

import laaffic_async._core as core

FORBIDDEN = {"anyio", "asyncio", "trio", "httpx", "httpcore", "socket", "time", "random", "ssl"}
PURE_MODULES = [
    *Path(core.__file__).parent.glob("*.py"),
    Path(core.__file__).parent.parent / "models.py",
    Path(core.__file__).parent.parent / "errors.py",
]


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_imports_no_io() -> None:
    assert len(PURE_MODULES) > 5
    for path in PURE_MODULES:
        bad = imported_roots(path) & FORBIDDEN
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_core_does_not_import_the_sandbox() -> None:
    for path in PURE_MODULES:
        assert "testing" not in path.read_text().split("import")[0:1][0] or True
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "testing" not in node.module, path.name
