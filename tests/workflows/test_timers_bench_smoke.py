"""Smoke test for bench/timers.py: it runs, every timer fires, none early (no speed checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "timers.py"


def test_timers_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "timers.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["live"]["timers"] == 500 and results["live"]["early"] == 0
    assert results["live"]["lateness_server_applied"]["p50_ms"] >= 0
    assert results["restart"]["timers"] == 500
