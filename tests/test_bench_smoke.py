"""Smoke test for bench/interpreter.py: it runs and reports every shape (no timing assertions)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "interpreter.py"
SHAPES = ("flat", "nested", "parallel")
LIBRARIES = (
    "statesync",
    "statesync-send",
    "transitions",
    "python-statemachine",
    "sismic",
    "xstate-send",
    "xstate-transition",
)
PEER_MODULES = ("transitions", "statemachine", "sismic")


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in PEER_MODULES),
    reason="benchmark peers not installed (pip install -e '.[bench]')",
)
def test_bench_quick_runs_every_shape(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out_json)],
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    for shape in SHAPES:
        for library in LIBRARIES:
            assert any(row[:2] == [shape, library] for row in rows), (
                f"no row for {shape} / {library}"
            )
    assert "Targets:" in proc.stdout
    assert out_json.exists()
