"""bench/indexes.py --quick runs and reports every query (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_index_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "indexes.py"), "--quick",
                           "--json", str(out)], capture_output=True, text=True, timeout=300,
                          check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["instances"] == 5000 and len(result["queries"]) == 8
    assert all(row["results"] > 0 for row in result["queries"])
    assert "p99 ms" in done.stdout
