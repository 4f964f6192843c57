"""The part of pytest statesync's core tests use, for running them inside MicroPython
(statesync's light runtime has no pytest): `raises` and `mark.parametrize`. harness.py
writes it into the light bundle as `pytest.py`; never imported by CPython."""

import re

PARAMETRIZED = {}
"""`{test function: [(argnames, argvalues, ids), ...]}` (MicroPython functions take no
attributes), outermost decorator last."""


class RaisesInfo:
    def __init__(self):
        self.value = None
        self.type = None


class raises:
    def __init__(self, expected, match=None):
        self.expected = expected
        self.match = match
        self.info = RaisesInfo()

    def __enter__(self):
        return self.info

    def __exit__(self, kind, value, traceback):
        if kind is None:
            raise AssertionError("DID NOT RAISE {}".format(self.expected))
        if not issubclass(kind, self.expected):
            return False
        self.info.value = value
        self.info.type = kind
        if self.match is not None and not re.search(self.match, str(value)):
            raise AssertionError("Regex {!r} does not match {!r}".format(self.match, str(value)))
        return True


class _Mark:
    def parametrize(self, argnames, argvalues, ids=None):
        def register(fn):
            PARAMETRIZED.setdefault(fn, []).append((argnames, list(argvalues), ids))
            return fn

        return register


mark = _Mark()
