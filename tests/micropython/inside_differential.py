"""Inside MicroPython: run differential cases through tests/differential/pyrunner.py.

The cases come as JSON in which every object under "states", "on" and "after" is written
`{"__ordered__": [[key, value], ...]}` (MicroPython's dicts forget key order, and these orders
are the machines' document order); they are rebuilt here as `OrderedDict`s.
"""

import json
from collections import OrderedDict

from differential import pyrunner

MARKER = "__ordered__"


def _decode(value):
    if isinstance(value, dict):
        if len(value) == 1 and MARKER in value:
            return OrderedDict((k, _decode(v)) for k, v in value[MARKER])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def run(args_json):
    """`{"cases": [...]}` -> JSON `{"results": [...]}`, as `harness.run_statesync` gives."""
    cases = _decode(json.loads(args_json))["cases"]
    return json.dumps({"results": [pyrunner.run_case(case) for case in cases]})
