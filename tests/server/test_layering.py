"""The server's layers (README, "Layout"): imports only go down, and no module imports itself
back through others, in `server/statesync_server/` and in the SDK's `sdk_py/statesync/client/`.

Every import counts: at module level, inside functions and under `if TYPE_CHECKING:` (a type
needed from above is a circle too; the lower module says what it needs with a `Protocol`).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server" / "statesync_server"
CLIENT = ROOT / "sdk_py" / "statesync" / "client"

# Top to bottom; each layer may import itself and the layers listed for it. The package's own
# `__init__` (the public API) and `__main__` sit above everything.
LAYERS: dict[str, set[str]] = {
    "cli": {"web", "engine", "workflow", "store", "model"},
    "testing": {"store", "model"},
    "web": {"engine", "workflow", "store", "model"},
    "engine": {"workflow", "store", "model"},
    "workflow": {"store", "model"},
    "store": {"model"},
    "model": set(),
}
PACKAGES = {"cli", "testing", "web", "engine", "workflow", "store"}


def module_name(path: Path, package_dir: Path, package: str) -> str:
    parts = [package, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package_dir: Path, package: str,
                 unresolved: list[str] | None = None) -> dict[str, set[str]]:
    """Module -> the modules of `package` it imports (all of them: see the module docstring).
    Relative imports of no module of the package are appended to `unresolved`."""
    files = {module_name(p, package_dir, package): p for p in package_dir.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")[: len(name.split(".")) - node.level + is_package]
                    origin = ".".join(base + ([node.module] if node.module else []))
                    if origin not in files and unresolved is not None:
                        unresolved.append(f"{name}:{node.lineno} imports {origin}")
                else:
                    origin = node.module or ""
                # `from . import privacy` imports a module; `from .app import App` a name
                targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in files else origin
                           for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in files:  # `import a.b.c` where a.b is the module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> str | None:
    """The layer of a server module; None for the package's public API (`__init__`, `__main__`)."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return None
    return parts[1] if parts[1] in PACKAGES else "model"


def test_every_relative_import_names_a_module() -> None:
    """(A module moved to another layer leaves no import of its old place behind.)"""
    unresolved: list[str] = []
    import_graph(SERVER, "statesync_server", unresolved)
    assert unresolved == []


def test_server_has_no_import_circle() -> None:
    assert cycles(import_graph(SERVER, "statesync_server")) == []


def test_server_imports_only_go_down() -> None:
    upward = []
    for source, targets in import_graph(SERVER, "statesync_server").items():
        for target in targets:
            below, above = layer_of(source), layer_of(target)
            if below is not None and above != below and above not in LAYERS[below]:
                upward.append(f"{source} ({below}) -> {target} ({above})")
    assert upward == []


def test_every_package_says_what_it_may_import() -> None:
    for package in PACKAGES:
        doc = ast.get_docstring(ast.parse((SERVER / package / "__init__.py").read_text())) or ""
        assert "May import" in doc, package


def test_client_sdk_has_no_import_circle() -> None:
    assert cycles(import_graph(CLIENT, "statesync.client")) == []
