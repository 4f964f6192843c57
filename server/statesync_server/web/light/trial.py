"""The light runtime's start-up trial: what the static check (`check_light`) cannot see, found
by running the light bundle in MicroPython-wasm under Node (as the browser's worker would).

    try_light(bundle, machines, micropython_dir, timeout=TIMEOUT) -> Trial

`machines` maps names to `(location "module:attribute", the machine as CPython has it)`. In
one Node process (`trial.mjs`, at most `timeout` seconds) the bundle's browser client is
imported, then each machine's module, and the machine's initial state taken; a machine fails
the trial when its module does not import there, when its initial state fails there but not
in CPython, or when that state's value differs from CPython's. `Trial.failures` says why, per
machine. Without Node 18 or later nothing is tried (`Trial.untried` says why): the static
verdict stands. Answers are kept on disk by content (`memo`): a start with the same bundle
and machines runs no Node.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .memo import memo

RUNNER = Path(__file__).resolve().with_name("trial.mjs")
TIMEOUT = 120.0
"""Seconds the trial may take (MicroPython boots in ~0.1 s and imports a bundle in ~1 s on a
quiet machine; this leaves room for a loaded one). Longer: every machine runs in Pyodide."""
MIN_NODE = 18


@dataclass(frozen=True)
class Trial:
    """`failures`: machine name -> why it cannot run in MicroPython; `untried`: why nothing
    was tried (then `failures` is empty)."""

    failures: dict[str, str] = field(default_factory=dict)
    untried: str | None = None


class TrialError(Exception):
    """Node ran, but MicroPython did not give an answer (a crash, a time-out)."""


def try_light(bundle: bytes, machines: Mapping[str, tuple[str, Any]], micropython_dir: Path,
              timeout: float = TIMEOUT) -> Trial:
    """Run `bundle`'s client and `machines` in MicroPython under Node (module docstring)."""
    node = shutil.which("node")
    if node is None:
        return Trial(untried="node was not found on the server's PATH")
    version = _node_major(node)
    if version is None or version < MIN_NODE:
        return Trial(untried=f"node {version or '?'} is older than {MIN_NODE}")
    locations = {name: location for name, (location, _) in machines.items()}
    mjs, wasm = (micropython_dir.resolve() / name for name in ("micropython.mjs",
                                                                "micropython.wasm"))
    try:
        answer = json.loads(memo(
            "trial", [RUNNER.read_bytes(), mjs.read_bytes(), wasm.read_bytes(), bundle,
                      json.dumps(locations, sort_keys=True)],
            lambda: _run(node, mjs, bundle, locations, timeout)))
    except TrialError as error:
        return Trial({name: f"MicroPython under Node: {error}" for name in machines})
    if answer["client"]:
        why = f"the browser client does not import in MicroPython: {_last(answer['client'])}"
        return Trial(dict.fromkeys(machines, why))
    failures: dict[str, str] = {}
    for name, (location, machine) in machines.items():
        why = _verdict(location, machine, answer["machines"][name])
        if why:
            failures[name] = why
    return Trial(failures)


def _verdict(location: str, machine: Any, outcome: dict[str, Any]) -> str | None:
    """Why the machine's `outcome` in MicroPython shows it cannot run there (None: it can)."""
    module = location.partition(":")[0]
    if outcome.get("stage") == "import":
        return f"{module} does not import in MicroPython: {_last(outcome['error'])}"
    try:
        expected = json.loads(json.dumps(machine.initial_transition()[0].value))
    except Exception:  # noqa: BLE001 - it needs an input: nothing to compare
        return None
    if "error" in outcome:
        return f"its initial state fails in MicroPython: {_last(outcome['error'])}"
    if outcome["value"] != expected:
        return (f"its initial state in MicroPython is {outcome['value']!r}, "
                f"in CPython {expected!r}")
    return None


def _last(trace: str) -> str:
    """A MicroPython traceback's innermost place and its error, in one line."""
    lines = [line.strip() for line in trace.strip().splitlines()]
    places = [m for line in lines
              if (m := re.match(r'File "(?:/light/)?(.+?)", line (\d+)', line))]
    where = f"{places[-1][1]}, line {places[-1][2]}: " if places else ""
    return where + (lines[-1] if lines else "no traceback")


def _node_major(node: str) -> int | None:
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.match(r"v(\d+)\.", done.stdout.strip())
    return int(found[1]) if found else None


def _run(node: str, mjs: Path, bundle: bytes, locations: dict[str, str],
         timeout: float) -> bytes:
    """trial.mjs's JSON answer (raises TrialError without one)."""
    with tempfile.TemporaryDirectory(prefix="statesync-trial-") as directory:
        bundle_file, machines_file = Path(directory) / "bundle", Path(directory) / "machines.json"
        bundle_file.write_bytes(bundle)
        machines_file.write_text(json.dumps(locations))
        with subprocess.Popen([node, str(RUNNER), str(mjs), str(bundle_file), str(machines_file)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True, cwd=directory) as process:
            try:
                output, errors = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise TrialError(f"no answer within {timeout:g} s") from None
    lines = output.strip().splitlines()
    if process.returncode != 0 or not lines:
        said = [line.strip() for line in errors.splitlines() if line.strip()] or ["no output"]
        tail = next((line for line in reversed(said) if "Error" in line), said[-1])
        raise TrialError(f"exit status {process.returncode}: {tail}")
    try:
        json.loads(lines[-1])
    except ValueError:
        raise TrialError(f"not an answer: {lines[-1][:200]}") from None
    return lines[-1].encode()
