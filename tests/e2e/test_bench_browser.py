"""Smoke test for bench/browser.py: it runs and reports every figure (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_harness import CHROMIUM, REPO

ROWS = (  # issues 11 and 25, cold, warm and revisit; the example page, then a bare page
    "page load -> first state, cold",
    "page load -> first state, warm (reload)",
    "page load -> first state, revisit (browser restarted, HTTP cache)",
    "bytes transferred (page + worker), cold",
    "bytes transferred (page + worker), warm (reload)",
    "bytes transferred (page + worker), revisit",
    "handover to the Python client (optimistic ready), cold",
    "handover to the Python client (optimistic ready), warm (reload)",
    "handover to the Python client (optimistic ready), revisit",
    "runtime start (fetch + boot) when this load booted it, cold",
    "install / import core, client, machines when booted, cold",
    "longest main-thread task until the handover, cold",
    "longest main-thread task until the handover, warm (reload)",
    "longest script in a long animation frame (the page's code in it)",
    "click right after the first state -> shown, cold",
    "click right after the first state -> shown, warm",
    "second tab: page load -> handover",
    "send() -> optimistic state, rendered, after a cold load",
    "send() -> optimistic state, rendered, after a warm load",
    "send() -> optimistic state, rendered, one at a time",
    "SDK import -> handover, cold",
    "SDK import -> handover, warm (reload)",
    "longest main-thread task, SDK import -> handover, cold",
    "longest main-thread task, SDK import -> handover, warm",
    "longest SDK script in a long animation frame",
    "send() -> optimistic state via the worker, after a cold load",
    "send() -> optimistic state via the worker, after a warm load",
    "send() -> optimistic state via the worker, one at a time",
    "the platform's floor: postMessage echo by a bare SharedWorker",
    "settings.set() -> shown (in the page), one at a time",
    "send() -> ack",
    "send -> optimistic p95 (bare page, worst of 3)",
    "bare SharedWorker echo p95 (the floor)",
)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium")
def test_bench_quick_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "browser.json"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "browser.py"), "--quick",
                           "--runtime", "light", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for row in ROWS:  # reported, and measured (a row without values ends in "none")
        found = [line for line in lines if row in line]
        assert found and not any(line.rstrip().endswith(("none", "-")) for line in found), row
    assert "issue 25 targets, light, 0 burning:" in done.stdout
    assert "load average" in done.stdout  # the figures say how busy the machine was
    figures = json.loads(out.read_text())["light, 0 burning"]
    assert figures["runtime"] == "micropython"
    assert len(figures["send() -> optimistic state via the worker, one at a time"]) == 60
    assert len(figures["send() -> optimistic state via the worker, after a cold load"]) == 20
    assert len(figures["send() -> optimistic state via the worker, after a warm load"]) == 20
    assert len(figures["send() -> optimistic state, rendered, one at a time"]) == 60
    assert len(figures["send() -> optimistic state, rendered, after a warm load"]) == 20
    assert len(figures["SDK import -> handover, warm (reload)"]) == 1
    assert len(figures["load average"]) == 2
