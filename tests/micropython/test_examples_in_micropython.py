"""Every example's machines import and step in MicroPython as they do in CPython.

Each example's machine module is checked by `check_light`, then `inside_examples.py` starts
every machine in it and feeds it every event it names, once in CPython and once in MicroPython
(the light bundle of the module and its own pure-Python imports): the two reports must be
equal. The llm example's machine validates drafts with pydantic: `check_light` must say so
(the page runs it in Pyodide).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from statesync_server.web.light import check_light, light_bundle

from .harness import REPO, bundle_dir, requires_micropython, run_micropython

pytestmark = requires_micropython

EXAMPLES = REPO / "examples"
HERE = Path(__file__).resolve().parent
LIGHT = {
    # example: (its own modules the machine module imports, inputs by machine id)
    "settings_page": ((), {}),
    "orders": ((), {}),
    "todo": ((), {"todo": {"title": "Groceries"}}),
    "onboarding": ((), {"onboarding": {"user": "alice", "email": "a@example.com",
                                       "name": "Alice"}}),
    "build": (("orchestration", "graph"), {}),
}
NEEDS_PYODIDE = {"llm": "imports pydantic"}


def test_every_example_with_machines_is_listed() -> None:
    with_machines = {p.parent.name for p in EXAMPLES.glob("*/machines.py")}
    assert with_machines == set(LIGHT) | set(NEEDS_PYODIDE)


@pytest.mark.parametrize("example", sorted(NEEDS_PYODIDE))
def test_check_light_says_why_a_machine_needs_pyodide(example: str) -> None:
    reasons = check_light(EXAMPLES / example / "machines.py")
    assert reasons and all(NEEDS_PYODIDE[example] in r for r in reasons), reasons


def explore_in_cpython(example: str, inputs: dict) -> dict:
    code = ("import sys, json; sys.path[:0] = sys.argv[1:3]; import inside_examples; "
            "print(inside_examples.run(sys.argv[3]))")
    proc = subprocess.run([sys.executable, "-c", code, str(EXAMPLES / example), str(HERE),
                           json.dumps({"module": "machines", "inputs": inputs})],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("compiled", [False, True], ids=["source", "mpy"])
@pytest.mark.parametrize("example", sorted(LIGHT))
def test_example_machines_step_in_micropython_as_in_cpython(example: str, compiled: bool,
                                                            tmp_path: Path) -> None:
    """From the rewritten source, and from it compiled to MicroPython bytecode."""
    own, inputs = LIGHT[example]
    directory = EXAMPLES / example
    assert check_light(directory / "machines.py") == []
    bundle = light_bundle([directory / "machines.py", *(directory / f"{m}.py" for m in own)])
    assert "machines.py" in bundle

    expected = explore_in_cpython(example, inputs)
    target = bundle_dir(tmp_path / "bundle", [directory / "machines.py",
                                              *(directory / f"{m}.py" for m in own)],
                        {"inside_examples": HERE / "inside_examples.py"}, compiled=compiled)
    result = run_micropython(target, "inside_examples", "run",
                             {"module": "machines", "inputs": inputs})
    assert expected["machines"], f"no machines found in examples/{example}/machines.py"
    assert result["machines"] == expected["machines"]
    steps = sum(len(r.get("steps", {})) for r in expected["machines"].values())
    print(f"{example}: {len(expected['machines'])} machines, {steps} steps agree")
