"""The part of `inspect` statesync uses, for MicroPython (statesync's light runtime).

MicroPython keeps no parameter lists at run time; the rewrite records them for functions that
are not of the plain `(context, event)` shape (`_statesync_light.SIGNATURES`). Any other
callable has no signature here (`ValueError`, as CPython says for builtins), which statesync
reads as "called with (context, event)".
"""

from collections import OrderedDict

from _statesync_light import SIGNATURES


class Parameter:
    POSITIONAL_ONLY = 0
    POSITIONAL_OR_KEYWORD = 1
    VAR_POSITIONAL = 2
    KEYWORD_ONLY = 3
    VAR_KEYWORD = 4
    empty = object()

    def __init__(self, name, kind, has_default):
        self.name = name
        self.kind = kind
        self.default = None if has_default else Parameter.empty

    def __repr__(self):
        return "<Parameter {}>".format(self.name)


class Signature:
    def __init__(self, spec):
        self.parameters = OrderedDict((name, Parameter(name, kind, has_default))
                                      for name, kind, has_default in spec)


def signature(fn):
    """The parameters recorded for `fn` (a function, or an object whose class defines
    `__call__`); `ValueError` when none were."""
    try:
        spec = SIGNATURES.get(fn)
    except TypeError:
        spec = None
    if spec is None:
        call = SIGNATURES.get(getattr(type(fn), "__call__", None))
        spec = call[1:] if call is not None else None
    if spec is None:
        raise ValueError("no signature found for {!r}".format(fn))
    return Signature(spec)


_GENERATOR = type((lambda: (yield))())


def isawaitable(obj):
    """Coroutines (generators in MicroPython), awaitables and JavaScript thenables."""
    return isinstance(obj, _GENERATOR) or hasattr(obj, "__await__") or (
        type(obj).__name__ == "JsProxy" and hasattr(obj, "then"))


def iscoroutinefunction(fn):
    """Unknowable in MicroPython (coroutines are generators): always False."""
    return False
