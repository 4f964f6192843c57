"""bench/scale.py --quick runs every configuration end to end (no timing assertions): each
one acknowledged events without rejects, its observer got every acknowledged update, and its
costs were measured (CPU per event, with PostgreSQL's; PostgreSQL requests and transactions per event)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scale_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--quick", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    assert [(r["label"], r["sticky"]) for r in results] == [
        ("sqlite x1", False), ("postgresql x1", False), ("postgresql x2", True),
        ("postgresql x2", False), ("postgresql x3", True), ("postgresql x3", False)]
    for r in results:
        assert r["events_per_s"] > 0 and r["rejects"] == r["paced_rejects"] == 0, r
        assert r["updates_missing"] == 0, r
        assert r["cpu_s_per_1k_events"] > 0, r  # server processes and PostgreSQL
        postgres = r["label"].startswith("postgresql")
        assert (r["postgres_cpu_s_per_1k_events"] > 0) == postgres, r
        if shutil.which("ss"):  # iproute2 counts the requests (else the bench prints nan)
            assert (r["pg_requests_per_event"] > 0) == postgres, r
        assert (r["pg_transactions_per_event"] > 0) == postgres, r
    assert "vs sqlite" in proc.stdout
