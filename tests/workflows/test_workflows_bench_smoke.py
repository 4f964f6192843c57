"""Smoke test for bench/workflows.py: 3-step workflows complete on SQLite and PostgreSQL and
their CPU is measured (no speed checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from statesync_server.testing.postgres import find_pg_bin

BENCH = Path(__file__).resolve().parents[2] / "bench" / "workflows.py"


@pytest.mark.skipif(find_pg_bin() is None, reason="PostgreSQL is not installed")
def test_workflows_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "workflows.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    results = {r["backend"]: r for r in json.loads(out.read_text())["results"]}
    assert set(results) == {"sqlite", "postgresql"}
    for backend, r in results.items():
        assert r["completed"] > 0 and r["server_cpu_ms_per_workflow"] > 0, r
        assert (r["database_cpu_ms_per_workflow"] > 0) == (backend == "postgresql"), r
