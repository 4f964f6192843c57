"""Calling user implementations with or without `params`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


def takes_params(fn: Callable[..., Any]) -> bool:
    """Whether `fn` accepts a third positional argument (the params)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    positional = 0
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 3


def name_of(fn: Callable[..., Any]) -> str:
    """A readable name for an inline implementation."""
    return getattr(fn, "__name__", None) or type(fn).__name__
