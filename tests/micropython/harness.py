"""Run Python inside MicroPython-wasm under Node, on a light bundle (statesync's light runtime).

`bundle_dir` writes `statesync_server.web.light.light_bundle(...)` (rewritten statesync, the
helper and stand-in modules) plus rewritten extra modules into a directory; `run_micropython` boots
MicroPython in `node tests/js/run_micropython.mjs`, imports a module from that directory, calls
one function with a JSON string and returns its JSON answer.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from statesync_server.web.light import compile_bundle, light_bundle, rewrite_source

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
JS_DIR = REPO / "tests" / "js"
RUNNER = JS_DIR / "run_micropython.mjs"
MICROPYTHON_PACKAGE = JS_DIR / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
NODE = shutil.which("node")

requires_micropython = [
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(not MICROPYTHON_PACKAGE.is_dir(),
                       reason=f"{MICROPYTHON_PACKAGE} is missing: run `npm ci` in {JS_DIR}"),
]
"""`pytestmark` of every test that runs MicroPython."""


def bundle_dir(directory: Path, modules: list[Any], extra: dict[str, Path] | None = None,
               *, compiled: bool = False) -> Path:
    """Write the light bundle of `modules` (statesync always) and `extra` ({module name: path
    of its CPython source}, rewritten too) into `directory`, as `.mpy` bytecode if `compiled`;
    also the inside-MicroPython test runner and its `pytest` stand-in."""
    files: dict[str, str | bytes] = dict(light_bundle(["statesync", *modules]))
    for name, path in (extra or {}).items():
        files[f"{name}.py"] = rewrite_source(path.read_text(), str(path))
    if compiled:
        files = dict(compile_bundle(files))  # type: ignore[arg-type]
    files["pytest.py"] = (HERE / "inside_pytest.py").read_text()
    files["inside_tests.py"] = rewrite_source((HERE / "inside_tests.py").read_text())
    for relative, content in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return directory


def run_micropython(directory: Path, module: str, function: str, args: Any, *,
                    timeout: float = 300, websocket: bool = False,
                    env: dict[str, str] | None = None) -> dict[str, Any]:
    """`module.function(json.dumps(args))` inside MicroPython: its JSON answer, decoded (a
    failure fails the test with MicroPython's output)."""
    report = directory.parent / f"{directory.name}-report.json"
    report.unlink(missing_ok=True)
    arguments = directory.parent / f"{directory.name}-args.json"
    arguments.write_text(json.dumps(args))
    command = [NODE or "node", str(RUNNER), "--dir", str(directory), "--module", module,
               "--call", function, "--args", str(arguments), "--report", str(report)]
    if websocket:
        command += ["--websocket", "1"]
    with subprocess.Popen(command, cwd=JS_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, start_new_session=True,
                          env={**os.environ, **(env or {})}) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            pytest.fail(f"MicroPython ran over {timeout} s:\n{output[-5000:]}")
    if not report.exists():
        pytest.fail(f"MicroPython ended without a report (exit {proc.returncode}):\n{output[-5000:]}")
    result = json.loads(report.read_text())
    if "error" in result:
        pytest.fail(f"MicroPython failed:\n{result['error']}\n{output[-5000:]}")
    result["output"] = output
    return result
