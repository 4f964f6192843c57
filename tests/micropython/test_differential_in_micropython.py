"""The differential XState cases on the light runtime: statesync rewritten for MicroPython and
run there (tests/differential/pyrunner.py, rewritten too) must observe what XState observes,
exactly as on CPython (tests/differential/test_differential.py).

Hand-written, ported and v5 cases, and seeded random machines (`DIFF_GENERATED_MICROPYTHON`,
default 200, and as many v5 ones), all in one MicroPython run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from differential import cases_v5, generate, harness, ported, ported_actors  # noqa: F401 (they register cases)
from differential.cases import CASES

from .harness import REPO, bundle_dir, requires_micropython, run_micropython

_missing = harness.xstate_missing_reason()
pytestmark = [*requires_micropython,
              pytest.mark.skipif(_missing is not None, reason=_missing or "")]

GENERATED = int(os.environ.get("DIFF_GENERATED_MICROPYTHON", "200"))
SEED = 20261207
ORDERED_KEYS = ("states", "on", "after")
DIFFERENTIAL = REPO / "tests" / "differential"
HERE = Path(__file__).resolve().parent


def encode_orders(value: Any, ordered: bool = False) -> Any:
    """The case with every object under "states" / "on" / "after" as `{"__ordered__": pairs}`
    (see inside_differential.py)."""
    if isinstance(value, dict):
        items = [[k, encode_orders(v, k in ORDERED_KEYS)] for k, v in value.items()]
        return {"__ordered__": items} if ordered else dict(items)
    if isinstance(value, list):
        return [encode_orders(v) for v in value]
    return value


def test_differential_cases_agree_with_xstate_in_micropython(tmp_path: Path) -> None:
    cases = [c for c in CASES if "quirk" not in c]
    cases += generate.random_cases(GENERATED, seed=SEED)
    cases += generate.random_cases(GENERATED, seed=SEED + 1, v5=True)
    expected = harness.run_xstate(cases)

    directory = bundle_dir(tmp_path / "bundle", [], {
        "differential/__init__": DIFFERENTIAL / "__init__.py",
        "differential/vocab": DIFFERENTIAL / "vocab.py",
        "differential/pyrunner": DIFFERENTIAL / "pyrunner.py",
        "inside_differential": HERE / "inside_differential.py",
    })
    (directory / "signal.py").write_text((HERE / "inside_signal.py").read_text())
    result = run_micropython(directory, "inside_differential", "run",
                             {"cases": encode_orders(cases)}, timeout=600)
    actual = result["results"]

    assert len(actual) == len(cases)
    found = []
    for case, exp, act in zip(cases, expected, actual):
        diff = harness.compare(case, exp, act)
        if diff is not None:
            found.append(f"[{case.get('name', '')}] {diff}")
    assert not found, f"{len(found)} of {len(cases)} cases differ in MicroPython:\n\n" + (
        "\n\n".join(found[:5]))
    print(f"MicroPython: {len(cases)} differential cases agree with XState")
