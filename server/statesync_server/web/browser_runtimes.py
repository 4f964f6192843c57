"""Which Python runtime runs each machine in the browser's worker, decided at start-up.

MicroPython-wasm (the light runtime, 540 KB) runs a machine when its module passes
`check_light` (statesync_server.light: only what MicroPython has, and what the server's rewrite
can translate) and the browser client itself (the bridge, `statesync.client`) does; Pyodide
(13 MB, CPython) runs every machine. The worker boots MicroPython when every machine a page
runs can run there, else Pyodide (sdk_web/README.md, "Which runtime runs a machine"). The
verdicts are logged and go in the manifest (`runtimes`, and `reasons` for the machines that
need Pyodide); the light bundle (the rewritten core, client, bridge and machine modules) is
served as one JSON document `{path: source}`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from ..light import LightRewriteError, check_light, light_bundle

log = logging.getLogger("statesync")

BRIDGE_MODULE = "statesync_bridge"  # the name the worker imports bridge.py under


@dataclass(frozen=True)
class RuntimePlan:
    """`runtimes`: machine name -> "micropython" | "pyodide"; `reasons`: why a machine needs
    Pyodide; `bundle`: the light bundle as JSON bytes (None when nothing runs in MicroPython)."""

    runtimes: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, list[str]] = field(default_factory=dict)
    bundle: bytes | None = None


def plan_runtimes(locations: Mapping[str, str], modules: Mapping[str, ModuleType | Path],
                  bridge: Path) -> RuntimePlan:
    """The runtime of each machine in `locations` (name -> "module:attribute"); `modules` maps
    module names to the modules (or their files) the machines live in; `bridge` is
    sdk_web/bridge.py."""
    client = [f"the browser client: {reason}" for reason in check_light(bridge)]
    runtimes: dict[str, str] = {}
    reasons: dict[str, list[str]] = {}
    light: dict[str, ModuleType | Path] = {}
    for name, location in sorted(locations.items()):
        module_name = location.partition(":")[0]
        module = modules.get(module_name) or sys.modules.get(module_name)
        found = client or (check_light(module) if module is not None
                           else [f"{module_name} is not a module the server can read"])
        runtimes[name] = "pyodide" if found else "micropython"
        if found:
            reasons[name] = found
        elif not module_name.startswith("statesync.") and module_name != "statesync":
            light[module_name] = module
    bundle = None
    if "micropython" in runtimes.values():
        try:
            files = light_bundle(["statesync", *light.values()])
            files |= {f"{BRIDGE_MODULE}.py": light_bundle([bridge])["bridge.py"]}
            bundle = json.dumps(files, sort_keys=True).encode()
        except LightRewriteError as error:  # check_light passed: a gap in the check
            log.error("the light bundle could not be made (every machine runs in Pyodide): %s",
                      error)
            reasons = {name: [f"the light bundle: {error}"] for name in runtimes}
            runtimes = dict.fromkeys(runtimes, "pyodide")
    for name, runtime in runtimes.items():
        why = f": {'; '.join(reasons[name])}" if name in reasons else ""
        log.info("browser runtime of machine %s: %s%s", name, runtime, why)
    return RuntimePlan(runtimes, reasons, bundle)
