"""The package must import only the standard library (it runs in Pyodide with nothing else).

The one exception: each transport imports its platform's module inside its own functions
(`websockets` on CPython, `js` / `pyodide` / `jsffi` in the browser), so importing never needs them.
"""

import ast
import sys
from pathlib import Path

import statesync

PACKAGE = Path(statesync.__file__).parent

LAZY_IMPORTS = {
    "client/transport_websockets.py": {"websockets"},
    "client/transport_browser.py": {"js", "pyodide", "jsffi"},
    "client/transport_pyodide.py": {"pyodide"},
    "client/transport_micropython.py": {"js", "jsffi"},
}


def imports(tree: ast.AST, in_function: bool = False):
    """(top-level module name, whether the import sits inside a function) for every import."""
    for node in ast.iter_child_nodes(tree):
        function = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
        inside = in_function or isinstance(node, function)
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], in_function
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], in_function
        yield from imports(node, inside)


def offenders():
    stdlib = set(sys.stdlib_module_names) | {"statesync"}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        for module, in_function in imports(ast.parse(path.read_text(), filename=str(path))):
            if module in stdlib or (in_function and module in LAZY_IMPORTS.get(relative, ())):
                continue
            yield relative, module, "in a function" if in_function else "at module level"


def test_only_stdlib_imports():
    assert list(offenders()) == []


def test_the_checker_finds_non_stdlib_imports():
    tree = ast.parse("import websockets\ndef f():\n    from js import WebSocket\n")
    assert list(imports(tree)) == [("websockets", False), ("js", True)]
