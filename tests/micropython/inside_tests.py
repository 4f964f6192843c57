"""Inside MicroPython: import rewritten test modules, run their test functions, report JSON.

Driven by tests/js/run_micropython.mjs (see harness.py). Test ids follow pytest's node ids
(`path::test[param-ids]`) so the CPython side can compare them with what pytest collects.
"""

import io
import json
import sys

import pytest


def _id_part(value, argname, index):
    if isinstance(value, (str, int, float)) or value is None:
        text = str(value)
        if isinstance(value, str):
            text = "".join(c if 32 <= ord(c) < 127 else repr(c)[1:-1] for c in value)
        return text
    return "{}{}".format(argname, index)


def _cases(fn):
    """[(id suffix, kwargs)] for a test function (one case when not parametrized)."""
    cases = [("", {})]
    for argnames, argvalues, ids in reversed(pytest.PARAMETRIZED.get(fn, [])):
        names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
        expanded = []
        for index, value in enumerate(argvalues):
            values = value if len(names) > 1 else (value,)
            if ids is None:
                label = "-".join(_id_part(v, n, index) for n, v in zip(names, values))
            elif callable(ids):
                label = str(ids(value))
            else:
                label = str(ids[index])
            expanded.append((label, dict(zip(names, values))))
        labels = [label for label, _ in expanded]
        counts = {}
        for i, (label, kwargs) in enumerate(expanded):
            if labels.count(label) > 1:
                counts[label] = counts.get(label, -1) + 1
                expanded[i] = ("{}{}".format(label, counts[label]), kwargs)
        cases = [(outer + ("-" if outer else "") + label, dict(kw, **kwargs))
                 for outer, kw in cases for label, kwargs in expanded]
    return cases


def _traceback(exc):
    out = io.StringIO()
    sys.print_exception(exc, out)
    return out.getvalue()


def run(args_json):
    """`{"modules": {module name: node id prefix}}` -> JSON `{"collected", "passed",
    "failed": {node id: traceback}}`."""
    args = json.loads(args_json)
    collected, passed, failed = [], [], {}
    for module_name, prefix in sorted(args["modules"].items()):
        try:
            module = __import__(module_name)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            failed[prefix] = "import failed:\n" + _traceback(exc)
            continue
        for name in sorted(dir(module)):
            fn = getattr(module, name)
            if not name.startswith("test") or type(fn).__name__ != "function":
                continue
            for label, kwargs in _cases(fn):
                node_id = "{}::{}{}".format(prefix, name, "[{}]".format(label) if label else "")
                collected.append(node_id)
                try:
                    fn(**kwargs)
                    passed.append(node_id)
                except Exception as exc:  # noqa: BLE001
                    failed[node_id] = _traceback(exc)
    return json.dumps({"collected": collected, "passed": passed, "failed": failed,
                       "implementation": sys.implementation.name,
                       "version": ".".join(str(p) for p in sys.implementation.version[:3])})
