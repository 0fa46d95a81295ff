"""The layers hold: nothing below the client imports it back, and the core stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import laaffic_async

PACKAGE = Path(laaffic_async.__file__).parent
# What may build an AsyncClient: the package's front door, the client itself, the CLI.
ABOVE_THE_CLIENT = {"__init__.py", "_client.py", "__main__.py"}


def _imports_client(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = {alias.name for alias in node.names}
            if module.endswith("_client") or "_client" in names:
                return True
            if module in ("laaffic_async", "") and node.level > 0 and "AsyncClient" in names:
                return True
        elif isinstance(node, ast.Import) and any(
            alias.name.endswith("._client") for alias in node.names
        ):
            return True
    return False


def feature_modules() -> list[Path]:
    return [
        path
        for path in PACKAGE.rglob("*.py")
        if path.name not in ABOVE_THE_CLIENT and "_cli" not in path.relative_to(PACKAGE).parts[:1]
    ]


def test_no_feature_module_imports_the_client() -> None:
    modules = feature_modules()
    assert len(modules) > 40
    offenders = [str(p.relative_to(PACKAGE)) for p in modules if _imports_client(p)]
    assert offenders == []


def test_the_scan_sees_an_import_of_the_client(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("if TYPE_CHECKING:\n    from .._client import AsyncClient\n")
    assert _imports_client(sample)
    sample.write_text("from ..models import Call\n")
    assert not _imports_client(sample)


def test_batch_keywords_are_declared_once() -> None:
    import attrs

    from laaffic_async._dialing.options import BatchKeywords, BatchOptions

    options = set(attrs.fields_dict(BatchOptions))
    assert set(BatchKeywords.__annotations__) == options | {"progress"}
