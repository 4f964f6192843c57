"""bench/client.py --quick runs end to end against a real server (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_client_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "client.py"), "--quick",
                           "--json", str(out)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    for key in ("optimistic_ms", "ack_ms", "confirmed_ms"):
        assert results["latency"][key]["p50"] > 0
    assert results["burst"]["events_per_s"] > 0
    assert "optimistic (send -> visible)" in proc.stdout
