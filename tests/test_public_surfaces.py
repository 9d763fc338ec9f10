"""Each package's public surface is its ``__all__``; other packages use only those names (httpx's rule).

import-linter (scripts/lint.sh) keeps the layers; this keeps the façades: a module outside a package never
imports one of its submodules or a private name, so a package can rearrange its insides freely.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("settings", "ingest", "index", "triage", "answer", "feedback")
APP = (*LIBRARIES, "service", "cli", "ui", "eval")


@pytest.mark.parametrize("package", LIBRARIES)
def test_every_public_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__, f"{package} lists no public names"
    assert [name for name in module.__all__ if not hasattr(module, name)] == []


def _imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, name) of each import in a file; name is "" for ``import module``."""
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, "") for alias in node.names]
    return found


def test_other_packages_use_only_a_packages_public_names() -> None:
    breaches = []
    for package in APP:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, module, name in _imports(path):
                top = module.split(".")[0]
                if top == package or top not in LIBRARIES:
                    continue
                where = f"{path.relative_to(ROOT)}:{line}"
                if module != top:
                    breaches.append(f"{where} imports {module} (use {top}'s public names)")
                elif name.startswith("_") or name not in importlib.import_module(top).__all__:
                    breaches.append(f"{where} imports {top}.{name}, which is not in {top}.__all__")
    assert breaches == []
