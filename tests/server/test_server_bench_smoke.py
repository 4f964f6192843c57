"""bench/server.py --quick runs end to end and reports every figure (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_server_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "server.py"), "--quick", "--json", str(out)],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    assert results["raw_sqlite_commits_per_s"] > 0 and results["raw_ws_echo_msgs_per_s"] > 0
    assert results["saturated"]["events_per_s"] > 0 and results["saturated"]["rejects"] == 0
    assert results["fanout"]["complete_subscribers"] == results["fanout"]["subscribers"]
    assert results["paced"]["server_cpu_us_per_event"] > 0
    for label in ("raw SQLite", "raw uvicorn WebSocket echo", "statesync durable events",
                  "paced at", "server CPU meanwhile", "fan-out"):
        assert label in proc.stdout
