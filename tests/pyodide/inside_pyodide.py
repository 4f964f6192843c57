"""Code that runs *inside* Pyodide, driven by ``tests/js/run_pyodide_tests.js``.

Not a test module (pytest does not collect it): the Node script copies it into Pyodide's
file system and calls its two entry points, each returning a JSON string:

* :func:`check_stdlib_only` imports ``statesync`` and every submodule while only the standard
  library and statesync are installed, and lists any module outside the standard library that
  got imported (must be none: the browser has nothing else).
* :func:`run_pytest` runs pytest and returns what it collected and how each test ended.

Only the standard library is imported at module level, so loading this file does not disturb
the first check.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import traceback
from typing import Any

# Modules Pyodide itself provides: present in every Pyodide, not a dependency of ours.
PYODIDE_PLATFORM_MODULES = frozenset({"js", "pyodide", "pyodide_js", "_pyodide"})


def _top_level(name: str) -> str:
    return name.partition(".")[0]


def check_stdlib_only(package: str) -> str:
    """Import ``package`` and all its submodules; report imports outside the stdlib.

    Returns JSON ``{"imported": [...], "non_stdlib": [...], "errors": [...]}``: the submodules
    imported, the top-level names of newly imported modules that are neither stdlib, Pyodide's
    own modules nor ``package``, and the tracebacks of submodules that failed to import.
    """
    before = set(sys.modules)
    allowed = set(sys.stdlib_module_names) | PYODIDE_PLATFORM_MODULES | {package}
    imported: list[str] = []
    errors: list[str] = []
    try:
        root = importlib.import_module(package)
        imported.append(package)
        paths = list(getattr(root, "__path__", []))
        for info in pkgutil.walk_packages(paths, prefix=f"{package}.", onerror=errors.append):
            try:
                importlib.import_module(info.name)
                imported.append(info.name)
            except BaseException:  # noqa: BLE001 - every failure is a finding to report
                errors.append(f"{info.name}:\n{traceback.format_exc()}")
    except BaseException:  # noqa: BLE001
        errors.append(f"{package}:\n{traceback.format_exc()}")
    new = {_top_level(name) for name in set(sys.modules) - before}
    non_stdlib = sorted(name for name in new if name not in allowed)
    return json.dumps({"imported": imported, "non_stdlib": non_stdlib, "errors": errors})


class _Plugin:
    """pytest plugin: relaxes hypothesis' deadline, records collected node ids and outcomes."""

    def __init__(self) -> None:
        self.collected: list[str] = []
        self.outcomes: dict[str, int] = {}
        self.skipped: list[str] = []
        self.failed: list[str] = []

    def pytest_load_initial_conftests(self, early_config: Any) -> None:
        # After plugins (hypothesis' included) are imported, before any conftest runs.
        _relax_hypothesis_deadline()

    def pytest_collection_finish(self, session: Any) -> None:
        self.collected = [item.nodeid for item in session.items]

    def pytest_runtest_logreport(self, report: Any) -> None:
        # One outcome per test: its call phase, or the phase that stopped it (setup skip/error).
        if report.when == "call" or report.outcome != "passed":
            if hasattr(report, "wasxfail"):
                outcome = "xpassed" if report.passed else "xfailed"
            elif report.when != "call" and report.failed:
                outcome = "error"
            else:
                outcome = report.outcome
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            if outcome == "skipped":
                self.skipped.append(f"{report.nodeid}: {report.longrepr!r}")
            elif outcome in ("failed", "error"):
                self.failed.append(report.nodeid)


def _relax_hypothesis_deadline() -> None:
    """WebAssembly is slower than CPython: load a profile without a per-example deadline.

    Called before conftests are imported, so a conftest that loads its own profile still wins.
    """
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile("pyodide", deadline=None)
    settings.load_profile("pyodide")


def run_pytest(args_json: str) -> str:
    """Run ``pytest.main(args)`` and return JSON with exit code, collected node ids, outcomes."""
    import pytest  # installed by the Node script after check_stdlib_only ran

    importlib.invalidate_caches()
    recorder = _Plugin()
    exit_code = int(pytest.main(json.loads(args_json), plugins=[recorder]))
    return json.dumps(
        {
            "exit_code": exit_code,
            "collected": recorder.collected,
            "outcomes": recorder.outcomes,
            "skipped": recorder.skipped,
            "failed": recorder.failed,
            "python_version": ".".join(map(str, sys.version_info[:3])),
            "platform": sys.platform,
            "pytest_version": pytest.__version__,
        }
    )
