"""The core test suite (tests/core) passes inside Pyodide under Node, as the browser runs it.

Builds the statesync wheel, fetches wheels of pytest and hypothesis for Pyodide (pure-Python
or built for Pyodide's platform; the versions installed here when PyPI has them for Pyodide),
then runs ``tests/js/run_pyodide_tests.js``, which installs statesync alone, checks that
importing it needs nothing but the standard library, installs the test tools and runs pytest
on a copy of tests/core inside Pyodide. Passes only if Pyodide collected exactly the tests
CPython collects, skipped none and all passed.

Environment (both optional):
  STATESYNC_PYODIDE_WHEELS  a directory of ready wheels (pytest & co.) to use instead of
                            ``pip download`` (for offline runs).
  STATESYNC_PYODIDE_TESTS   the test directory to run instead of tests/core (relative to the
                            repository).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
JS_DIR = REPO / "tests" / "js"
PYODIDE_PACKAGE = JS_DIR / "node_modules" / "pyodide"
RUNNER = JS_DIR / "run_pyodide_tests.js"
CORE_TESTS = os.environ.get("STATESYNC_PYODIDE_TESTS", "tests/core")
TEST_TOOLS = ("pytest", "hypothesis")  # pip resolves their dependencies for Pyodide's Python
TIMEOUT = 300  # seconds, for the whole Pyodide run

NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(
        not PYODIDE_PACKAGE.is_dir(),
        reason=f"{PYODIDE_PACKAGE} is missing: run `npm ci` in {JS_DIR}",
    ),
]


def pyodide_lock_info() -> dict[str, str]:
    """What the installed npm ``pyodide`` bundles: ``python`` ('3.14.2'), ``abi_version``, ``arch``."""
    return json.loads((PYODIDE_PACKAGE / "pyodide-lock.json").read_text())["info"]


def pip_target_options(info: dict[str, str]) -> list[str]:
    """``pip download`` options selecting wheels Pyodide can install: pure-Python ones and
    ones built for its own platform (hypothesis ships a compiled ``pyemscripten`` wheel)."""
    major, minor = info["python"].split(".")[:2]
    return ["--only-binary=:all:", "--python-version", info["python"], "--implementation", "cp",
            "--abi", f"cp{major}{minor}", "--abi", "abi3", "--abi", "none",
            "--platform", f"pyemscripten_{info['abi_version']}_{info['arch']}",
            "--platform", "any"]


def run(cmd: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; fail the test with that output if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def statesync_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the statesync wheel from this checkout: exactly what the browser installs."""
    out = tmp_path_factory.mktemp("statesync-wheel")
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", str(out), str(REPO)],
        timeout=180)
    (wheel,) = out.glob("statesync-*.whl")
    return wheel


def pinned(name: str) -> str:
    """``name==<version installed here>``, so both sides run the same test tools."""
    try:
        return f"{name}=={importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return name


def download(requirements: list[str], cache_root: Path) -> Path | None:
    """Wheels of ``requirements`` and their dependencies for Pyodide, or None if pip fails.

    Kept in a directory named after the request, reused while complete.
    """
    options = pip_target_options(pyodide_lock_info())
    key = hashlib.sha256(json.dumps([options, requirements]).encode()).hexdigest()[:12]
    out = cache_root / f"pyodide-wheels-{key}"
    done = out / "complete"
    if not done.exists():
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", *options, "-d", str(out), *requirements],
            capture_output=True, text=True, timeout=180,
        )
        if proc.returncode != 0:
            print(f"pip download {requirements} failed:\n{proc.stderr[-2000:]}")
            return None
        done.write_text("\n".join(requirements))
    return out


@pytest.fixture(scope="module")
def tool_wheels(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of pytest, hypothesis and their dependencies for Pyodide's Python.

    The versions installed here if Pyodide has them, else the newest it has. Cached in
    .pytest_cache between runs.
    """
    if ready := os.environ.get("STATESYNC_PYODIDE_WHEELS"):
        return Path(ready)
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("pyodide") if cache else tmp_path_factory.mktemp("pyodide")
    wheels = download([pinned(name) for name in TEST_TOOLS], root) or download(
        list(TEST_TOOLS), root)
    if wheels is None:
        pytest.fail(f"pip could not download {TEST_TOOLS} for Pyodide (see captured stdout)")
    return wheels


def run_node(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``node args`` in its own process group (killed whole on timeout): (code, output)."""
    with subprocess.Popen([NODE or "node", *args], cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True) as proc:
        try:
            output, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            pytest.fail(f"the Pyodide run took over {TIMEOUT} s:\n{output}")
    return proc.returncode, output


def collected_by_cpython(tests: str) -> list[str]:
    """Node ids pytest collects here from ``tests`` (a path relative to the repository)."""
    proc = run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                "--rootdir", str(REPO), tests], timeout=120, cwd=REPO)
    node_ids = proc.stdout.partition("\n\n")[0].splitlines()  # then come summary, warnings
    return [line for line in node_ids if "::" in line]


def test_core_suite_passes_in_pyodide(
    statesync_wheel: Path, tool_wheels: Path, tmp_path: Path
) -> None:
    expected = collected_by_cpython(CORE_TESTS)
    assert expected, f"CPython collected no tests in {CORE_TESTS}"

    report = tmp_path / "report.json"
    started = time.monotonic()
    code, output = run_node(
        [str(RUNNER), "--statesync-wheel", str(statesync_wheel), "--wheels", str(tool_wheels),
         "--root", str(REPO), "--tests", CORE_TESTS, "--report", str(report)],
        cwd=JS_DIR,
    )
    seconds = time.monotonic() - started
    assert report.exists(), f"the Pyodide run ended without a report:\n{output}"
    summary = json.loads(report.read_text())
    print(f"Pyodide run: {seconds:.1f} s, {len(summary['collected'])} tests, "
          f"{summary['outcomes']}")

    # It really ran in Pyodide.
    assert summary["platform"] == "emscripten", output
    assert re.fullmatch(r"3\.14\.\d+", summary["python_version"]), output
    # statesync imported with only the standard library available.
    check = summary["import_check"]
    assert check["non_stdlib"] == [], f"statesync imports non-stdlib modules: {check}"
    assert check["errors"] == [], "statesync failed to import in Pyodide:\n" + "\n".join(
        check["errors"])
    # Same tests, none skipped, all passed.
    inside = summary["collected"]
    assert sorted(inside) == sorted(expected), (
        f"collected only in CPython: {sorted(set(expected) - set(inside))}\n"
        f"collected only in Pyodide: {sorted(set(inside) - set(expected))}"
    )
    assert summary["skipped"] == [], "tests skipped in Pyodide:\n" + "\n".join(summary["skipped"])
    assert summary["exit_code"] == 0 and code == 0, output
