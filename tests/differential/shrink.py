"""Shrink a differential case that disagrees with XState to a small one that still disagrees.

Greedy delta debugging on the case JSON: try deleting one dict key, one list item, or replacing
a list by one of its items; keep the first candidate that is still valid on both sides and
still differs in the same way (same side failing, same observation fields differing). Candidates of
one round go to node in a single batch.

Usage: ``cd tests && python -m differential.shrink case.json`` (a case object, or a list of cases to
shrink each), printing the shrunk cases as JSON. From Python: ``shrink(case)``.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from typing import Any

from . import harness, pyrunner

Case = dict[str, Any]
CHUNK = 24  # candidates per node round trip
KEEP_KEYS = {"id", "config", "steps", "type", "history"}


def _signature(case: Case, expected: dict, actual: dict) -> tuple[bool, bool, frozenset] | None:
    """``None`` when the sides agree or a side rejects the definition; else the kind of the
    first difference: (XState failed, statesync failed, the observation keys that differ)."""
    if "error" in expected or "error" in actual:
        return None
    if harness.compare(case, expected, actual) is None:
        return None
    for exp, act in zip(expected["observations"], actual["observations"]):
        if exp != act:
            keys = frozenset(k for k in {*exp, *act} if exp.get(k) != act.get(k))
            return ("error" in exp, "error" in act, keys)
    return (False, False, frozenset())


def _candidates(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, str, Any]]:
    """Edits of ``node``: (path, kind, arg)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in KEEP_KEYS:
                yield (path, "del", key)
        for key, value in node.items():
            yield from _candidates(value, path + (key,))
    elif isinstance(node, list):
        for index in range(len(node)):
            yield (path, "del", index)
        if len(node) > 1:
            for index in range(len(node)):
                yield (path, "only", index)
        for index, value in enumerate(node):
            yield from _candidates(value, path + (index,))


def _apply(case: Case, edit: tuple[tuple, str, Any]) -> Case:
    path, kind, arg = edit
    out = copy.deepcopy(case)
    parent: Any = out
    for key in path[:-1]:
        parent = parent[key]
    target = parent[path[-1]] if path else out
    if kind == "del":
        del target[arg]
    elif kind == "only" and path:
        parent[path[-1]] = [target[arg]]
    return out


def shrink(case: Case, max_rounds: int = 200) -> Case:
    """A smaller case with the same kind of difference (``case`` itself if none is found)."""
    exp = harness.run_xstate([case])[0]
    goal = _signature(case, exp, pyrunner.run_case(case))
    if goal is None:
        return case
    current = {k: v for k, v in case.items() if k in ("config", "steps", "input")}
    for _ in range(max_rounds):
        candidates = [_apply(current, e) for e in _candidates(current)]
        candidates = [c for c in candidates if isinstance(c.get("config"), dict)]
        found = None
        for start in range(0, len(candidates), CHUNK):
            chunk = candidates[start:start + CHUNK]
            for cand, exp in zip(chunk, harness.run_xstate(chunk)):
                if "error" in exp or (not goal[0] and harness.fails(exp)):
                    continue  # invalid, or an endless loop that the difference did not need
                if _signature(cand, exp, pyrunner.run_case(cand)) == goal:
                    found = cand
                    break
            if found is not None:
                break
        if found is None:
            break
        current = found
    return current


def main(argv: list[str]) -> None:
    data = json.load(open(argv[1]) if len(argv) > 1 else sys.stdin)
    cases = data if isinstance(data, list) else [data]
    print(json.dumps([shrink(c) for c in cases], indent=1))


if __name__ == "__main__":
    main(sys.argv)
