"""The server's start-up trial of the light runtime (`statesync_server.web.light.trial`, run by
`plan_runtimes`): a machine whose module passes the static check but fails in MicroPython-wasm
under Node runs in Pyodide, with the reason; without Node the static verdict stands and says
so."""

from __future__ import annotations

import importlib.util
import shutil
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from statesync_server.web.browser_runtimes import TRIED, plan_runtimes
from statesync_server.web.light import check_light

from .harness import REPO

MICROPYTHON = REPO / "sdk_web" / "vendor" / "micropython"
BRIDGE = REPO / "sdk_web" / "bridge.py"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

MACHINE = """
    from statesync import Machine

    m = Machine({{"id": "m", "initial": "a", "context": {context},
                 "states": {{"a": {{"always": {{"target": "b", "guard": {guard}}}}}, "b": {{}}}}}})
"""


def machine_module(directory: Path, name: str, *, top: str = "", context: str = "{}",
                   guard: str = "lambda ctx, ev: True") -> ModuleType:
    """A module `name` in `directory` with `top` at its top and a machine `m` whose initial
    state is `b` when `guard` holds (`a` otherwise)."""
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(top) + textwrap.dedent(
        MACHINE.format(context=context, guard=guard)))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert check_light(path) == []  # what follows is the trial's doing
    return module


def plan(module: ModuleType, **options):
    return plan_runtimes({"m": f"{module.__name__}:m"}, {module.__name__: module}, BRIDGE,
                         machines={"m": module.m}, micropython=MICROPYTHON, **options)


@needs_node
def test_a_machine_that_runs_in_micropython_is_light(tmp_path: Path) -> None:
    result = plan(machine_module(tmp_path, "fine"))
    assert result.runtimes == {"m": "micropython"} and result.checks == {"m": TRIED}
    assert result.bundle is not None


@needs_node
def test_a_module_that_does_not_import_in_micropython_runs_in_pyodide(tmp_path: Path) -> None:
    module = machine_module(tmp_path, "noprod", top="import math\n\nONE = math.prod([1])\n")
    result = plan(module)
    assert result.runtimes == {"m": "pyodide"} and result.checks == {}
    assert result.reasons == {"m": [
        "noprod does not import in MicroPython: noprod.py, line 3: "
        "AttributeError: module 'math' has no attribute 'prod'"]}
    assert result.bundle is None  # no machine left to run there


@needs_node
def test_an_initial_state_that_fails_in_micropython_runs_in_pyodide(tmp_path: Path) -> None:
    module = machine_module(tmp_path, "views", context="lambda _: {'k': list(reversed({1: 2}.keys()))}")
    result = plan(module)
    assert result.runtimes == {"m": "pyodide"}
    [why] = result.reasons["m"]
    assert why.startswith("its initial state fails in MicroPython: views.py, line ")
    assert why.endswith("TypeError: 'dict_view' object isn't subscriptable")


@needs_node
def test_an_initial_state_that_differs_from_cpythons_runs_in_pyodide(tmp_path: Path) -> None:
    module = machine_module(tmp_path, "differs", top="import sys\n",
                            guard="lambda ctx, ev: sys.implementation.name == 'cpython'")
    result = plan(module)
    assert result.runtimes == {"m": "pyodide"}
    assert result.reasons == {"m": ["its initial state in MicroPython is 'a', in CPython 'b'"]}


@needs_node
def test_a_machine_that_needs_an_input_to_start_is_judged_by_its_import(tmp_path: Path) -> None:
    module = machine_module(tmp_path, "needs_input", context="lambda input: {'n': input['n']}")
    with pytest.raises(TypeError):
        module.m.initial_transition()  # no input: CPython cannot start it either
    assert plan(module).runtimes == {"m": "micropython"}


@needs_node
def test_a_trial_that_does_not_finish_sends_the_machines_to_pyodide(tmp_path: Path) -> None:
    module = machine_module(tmp_path, "endless",
                            top="import sys\n\nwhile sys.implementation.name != 'cpython':\n"
                                "    pass\n")
    result = plan(module, timeout=5)
    assert result.runtimes == {"m": "pyodide"}
    assert result.reasons == {"m": ["MicroPython under Node: no answer within 5 s"]}


def test_without_node_the_static_check_stands_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = machine_module(tmp_path, "static", top="import math\n\nONE = math.prod([1])\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    result = plan(module)
    assert result.runtimes == {"m": "micropython"}  # the static check cannot see math.prod
    assert result.checks == {"m": "static check only: node was not found on the server's PATH"}
