"""`statesync diagram`: SVG (the inspector's layout, under Node), Mermaid and JSON."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import xml.etree.ElementTree as ET

import pytest
from conftest import REPO, WORKSHOP
from statesync_server.app import load_app
from statesync_server.chart import chart_graph
from statesync_server.cli import main
from statesync_server.web.inspector_web import ELK_BUNDLE

SVG = "{http://www.w3.org/2000/svg}"


def diagram(*args: str) -> subprocess.CompletedProcess[str]:
    """`statesync diagram ARGS` in this process (the SVG renderer still runs under Node)."""
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["diagram", *args])
        except SystemExit as exc:
            code = 1
            err.write(str(exc))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def job_machine():
    return load_app(str(WORKSHOP)).spec("job").machine


def test_mermaid_is_the_machines_own(job_machine) -> None:
    done = diagram(str(WORKSHOP), "job", "--format", "mermaid")
    assert done.returncode == 0, done.stderr
    assert done.stdout == job_machine.to_mermaid()


def test_json_is_the_chart_graph(job_machine) -> None:
    done = diagram(str(WORKSHOP), "job", "--format", "json")
    assert done.returncode == 0, done.stderr
    drawn = json.loads(done.stdout)
    assert (drawn["machine"], drawn["version"]) == ("job", "1")
    assert drawn["chart"] == chart_graph(job_machine)


def _svg_states(text: str) -> dict[str, dict[str, str]]:
    root = ET.fromstring(text)
    found = {}
    for group in root.iter(f"{SVG}g"):
        if "data-state-id" in group.attrib:
            found[group.attrib["data-state-id"]] = group.attrib
    return found


def _svg_edges(text: str) -> list[tuple[str, str, str]]:
    root = ET.fromstring(text)
    return sorted((g.attrib["data-source"], g.attrib["data-target"], g.attrib["data-label"])
                  for g in root.iter(f"{SVG}g") if "data-edge-id" in g.attrib)


@pytest.mark.parametrize("app,machine", [(WORKSHOP, "job"),
                                          (REPO / "examples/onboarding/app.py", "onboarding")])
def test_svg_draws_every_state_and_transition(app, machine, tmp_path) -> None:
    out = tmp_path / "chart.svg"
    done = diagram(str(app), machine, "--format", "svg", "-o", str(out))
    assert done.returncode == 0, done.stderr
    graph = chart_graph(load_app(str(app)).spec(machine).machine)
    text = out.read_text()
    assert set(_svg_states(text)) == {n["id"] for n in graph["nodes"]}
    assert _svg_edges(text) == sorted((e["source"], e["target"], e["label"]) for e in graph["edges"])


def test_svg_collapse_folds_a_state_and_keeps_its_transitions() -> None:
    done = diagram(str(WORKSHOP), "job", "--collapse", "job.running", "--direction", "DOWN")
    assert done.returncode == 0, done.stderr
    states = _svg_states(done.stdout)
    assert not any(s.startswith("job.running.") for s in states)
    assert states["job.running"]["data-collapsed"] == "true"
    assert ("job.paused", "job.running", "RESUME") in _svg_edges(done.stdout)
    assert ("job.running", "job.failed", "FAIL [hasReason]") in _svg_edges(done.stdout)


def test_bad_arguments_are_reported() -> None:
    unknown = diagram(str(WORKSHOP), "nope", "--format", "json")
    assert unknown.returncode != 0 and "unknown machine 'nope'" in unknown.stderr
    bad_state = diagram(str(WORKSHOP), "job", "--collapse", "job.nowhere")
    assert bad_state.returncode != 0 and "no state 'job.nowhere'" in bad_state.stderr


def test_the_vendored_elkjs_is_the_pinned_npm_build() -> None:
    """inspector/vendor/elk.bundled.js is byte for byte the build of the elkjs version
    inspector/package.json pins (`npm ci` there, as .ci/run does, installs it to compare)."""
    inspector = ELK_BUNDLE.parents[1]
    pinned = json.loads((inspector / "package.json").read_text())["dependencies"]["elkjs"]
    installed = inspector / "node_modules" / "elkjs"
    if not installed.is_dir():
        pytest.skip("npm ci in server/statesync_server/web/inspector to compare with the pinned build")
    assert json.loads((installed / "package.json").read_text())["version"] == pinned
    assert ELK_BUNDLE.read_bytes() == (installed / "lib" / "elk.bundled.js").read_bytes()
