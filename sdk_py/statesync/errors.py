"""Exceptions raised by the statechart core."""

from __future__ import annotations


class StatesyncError(Exception):
    """Base class of every error statesync raises on purpose."""


class DefinitionError(StatesyncError, ValueError):
    """A machine config is invalid; the message names the state path."""


class InfiniteLoopError(StatesyncError, RuntimeError):
    """A macrostep did not settle (e.g. an endless cycle of `always` transitions)."""
