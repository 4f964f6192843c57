"""tests/core passes inside MicroPython-wasm (statesync's light runtime), under Node.

The core and the test modules are rewritten by `statesync_server.web.light` exactly as the
server rewrites them for the browser, run by `inside_tests.py` (pytest's `raises` / `parametrize`
stand-in) in `tests/js/run_micropython.mjs`. Passes only if MicroPython collected the tests
CPython collects (less the modules `check_light` says cannot run there: `CPYTHON_ONLY`), and
all passed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from statesync_server.web.light import check_light

from .harness import REPO, bundle_dir, requires_micropython, run_micropython

pytestmark = requires_micropython

CORE_TESTS = REPO / "tests" / "core"
CPYTHON_ONLY = {"test_stdlib_only.py": "reads statesync's source files with ast and pathlib"}


def collected_by_cpython(files: list[Path]) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(REPO), *map(str, files)],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=True)
    return [line for line in proc.stdout.partition("\n\n")[0].splitlines() if "::" in line]


def test_core_suite_passes_in_micropython(tmp_path: Path) -> None:
    files = sorted(CORE_TESTS.glob("test_*.py"))
    light = {f.name: [r for r in check_light(f) if "imports pytest" not in r]  # a stand-in
             for f in files}
    assert {name for name, reasons in light.items() if reasons} == set(CPYTHON_ONLY), light
    runnable = [f for f in files if not light[f.name]]

    directory = bundle_dir(tmp_path / "bundle", [], {f.stem: f for f in runnable})
    result = run_micropython(directory, "inside_tests", "run", {"modules": {
        f.stem: f.relative_to(REPO).as_posix() for f in runnable}})

    assert result["implementation"] == "micropython" and result["version"] == "1.27.0"
    failed = result["failed"]
    assert not failed, f"{len(failed)} failed in MicroPython:\n" + "\n".join(
        f"{node_id}:\n{trace}" for node_id, trace in sorted(failed.items())[:10])
    expected = collected_by_cpython(runnable)
    assert sorted(result["collected"]) == sorted(expected), (
        f"only in CPython: {sorted(set(expected) - set(result['collected']))}\n"
        f"only in MicroPython: {sorted(set(result['collected']) - set(expected))}")
    print(f"MicroPython: {len(result['passed'])} passed; boot {result['micropython_boot_ms']} ms")
