"""Run cases on both sides and compare the observations.

``run_xstate`` sends a whole batch as one line to a long-lived
``node tests/js/xstate_runner.js --serve`` process;
``run_statesync`` runs the same cases through ``pyrunner``; ``compare`` names the first
difference of a case (``None`` when both sides agree).
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).resolve().parents[1] / "js"
RUNNER = JS_DIR / "xstate_runner.js"
XSTATE_DIR = JS_DIR / "node_modules" / "xstate"

Case = dict[str, Any]
Result = dict[str, Any]


def xstate_missing_reason() -> str | None:
    """Why the XState side cannot run here, or ``None`` when it can."""
    if shutil.which("node") is None:
        return "node is not installed (Node 20 runs the XState reference)"
    if not XSTATE_DIR.is_dir():
        return f"xstate is not installed: run `cd {JS_DIR} && npm ci`"
    return None


class _XStateProcess:
    """One long-lived ``node xstate_runner.js --serve``: a batch per line, a result per line."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def run(self, cases: list[Case]) -> list[Result]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                ["node", str(RUNNER), "--serve"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, encoding="utf-8",
            )
            atexit.register(self.close)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cases) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            stderr = self.proc.stderr.read() if self.proc.stderr else ""
            self.proc = None
            raise RuntimeError(f"xstate_runner.js died:\n{stderr}")
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        self.proc = None


_XSTATE = _XStateProcess()


def run_xstate(cases: list[Case]) -> list[Result]:
    """Results of ``cases`` from real XState actors (one shared node process)."""
    results = _XSTATE.run(cases)
    assert len(results) == len(cases)
    return results


def run_statesync(cases: list[Case]) -> list[Result]:
    """Results of ``cases`` from statesync driven by ``pyrunner``."""
    from . import pyrunner  # imports statesync; the XState side works without it

    return [pyrunner.run_case(case) for case in cases]


def _step_label(case: Case, index: int) -> str:
    if index == 0:
        return "start (initial transition)"
    return f"step {index}: {json.dumps(case['steps'][index - 1])}"


def compare(case: Case, expected: Result, actual: Result) -> str | None:
    """A description of the first difference between XState (expected) and statesync."""
    if "error" in expected or "error" in actual:
        if "error" in expected and "error" in actual:
            return None
        return _describe(case, "definition", expected, actual)
    exp_obs, act_obs = expected["observations"], actual["observations"]
    for index in range(max(len(exp_obs), len(act_obs))):
        exp = exp_obs[index] if index < len(exp_obs) else None
        act = act_obs[index] if index < len(act_obs) else None
        if exp is not None and act is not None and "error" in exp and "error" in act:
            # both failed at the same step (e.g. an endless `always` loop): only the answers
            # of `can` on the failed snapshot (a case's `can` events) are compared, when
            # statesync gives them (not after an endless macrostep: XState's snapshot is the
            # one its 1000th microstep left)
            if "can" in act and exp.get("can") != act["can"]:
                return _describe(case, _step_label(case, index), exp, act)
            return None
        if exp is not None and exp.get("xstateInconsistent"):
            # XState reached an illegal configuration during this step (see xstate_runner.js);
            # its later microsteps ran on it, so nothing from here on is comparable.
            return None
        if exp != act:
            return _describe(case, _step_label(case, index), exp, act)
    return None


def _describe(case: Case, where: str, expected: Any, actual: Any) -> str:
    return (
        f"statesync differs from XState at {where}\n"
        f"  case:      {json.dumps(case)}\n"
        f"  xstate:    {json.dumps(expected)}\n"
        f"  statesync: {json.dumps(actual)}"
    )


def fails(result: Result) -> bool:
    """Whether XState (or statesync) reported an error anywhere in the case."""
    return "error" in result or any("error" in o for o in result["observations"])


def mismatching_cases(cases: list[Case], *, max_error_cases: int | None = None
                      ) -> list[tuple[Case, str]]:
    """Each case that differs from XState, with a description of its first difference.

    ``max_error_cases`` keeps only that many of the cases where XState reports an error (an
    endless loop in a generated machine): both sides must still fail at the same step, but
    such cases cost thousands of microsteps and check little else.
    """
    expected = run_xstate(cases)
    if max_error_cases is not None:
        kept, errors = [], 0
        for case, exp in zip(cases, expected):
            if fails(exp):
                errors += 1
                if errors > max_error_cases:
                    continue
            kept.append((case, exp))
        cases, expected = [c for c, _ in kept], [e for _, e in kept]
    actual = run_statesync(cases)
    found = []
    for case, exp, act in zip(cases, expected, actual):
        diff = compare(case, exp, act)
        if diff is not None:
            name = case.get("name", "")
            found.append((case, f"[{name}] {diff}" if name else diff))
    return found


def mismatches(cases: list[Case], *, max_error_cases: int | None = None) -> list[str]:
    """Every case's first difference (empty when statesync agrees with XState on all)."""
    return [msg for _, msg in mismatching_cases(cases, max_error_cases=max_error_cases)]
