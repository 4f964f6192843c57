"""The core must import only the standard library (it runs in Pyodide with nothing else)."""

import ast
import sys
from pathlib import Path

import statesync

PACKAGE = Path(statesync.__file__).parent


def imported_top_level_modules():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path, node.module.split(".")[0]


def test_only_stdlib_imports():
    allowed = set(sys.stdlib_module_names) | {"statesync", "js", "pyodide"}
    offenders = [(str(p.relative_to(PACKAGE)), m) for p, m in imported_top_level_modules() if m not in allowed]
    assert offenders == []
