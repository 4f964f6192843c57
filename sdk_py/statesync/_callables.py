"""Calling user implementations with or without `params` and the `sender` keyword."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .sender import takes_sender

PLAIN, PARAMS, SENDER, PARAMS_SENDER = 0, 1, 2, 3
"""How to call an implementation: `fn(context, event)`, `fn(context, event, params)`, and
the same two with `sender=`."""


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def takes_params(fn: Callable[..., Any]) -> bool:
    """Whether `fn` accepts a third positional argument (the params); a parameter named
    `sender` does not count (it is passed by keyword)."""
    signature = _signature(fn)
    if signature is None:
        return False
    positional = 0
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            return True
        if parameter.name == "sender":
            continue
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 3


def call_mode(fn: Any) -> int:
    """`PLAIN`, `PARAMS`, `SENDER` or `PARAMS_SENDER` for a callable (`PLAIN` otherwise)."""
    if not callable(fn):
        return PLAIN
    return (PARAMS if takes_params(fn) else PLAIN) | (SENDER if takes_sender(fn) else PLAIN)


def call(fn: Callable[..., Any], mode: int, context: Any, event: Any, params: Any, sender: Any) -> Any:
    """Call `fn` the way `mode` says."""
    if mode == PLAIN:
        return fn(context, event)
    if mode == PARAMS:
        return fn(context, event, params)
    if mode == SENDER:
        return fn(context, event, sender=sender)
    return fn(context, event, params, sender=sender)


def name_of(fn: Callable[..., Any]) -> str:
    """A readable name for an inline implementation."""
    return getattr(fn, "__name__", None) or type(fn).__name__
