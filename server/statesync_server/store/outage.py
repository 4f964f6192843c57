"""Database outages: which errors mean the database is away or full (not a bug, nothing
applied, worth retrying), and one log line per outage rather than one per failed operation."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator

log = logging.getLogger("statesync.store")

# SQLSTATE classes: 08 connection exception, 53 insufficient resources (53100 disk full),
# 57P01-57P03 the server is shutting down or starting, 58 system error (I/O).
_STATE_PREFIXES = ("08", "53", "57P0", "58")
_SQLITE_CODES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN})
_DISCONNECT_TEXTS = ("server closed the connection", "connection is closed",
                     "terminating connection", "connection was closed",
                     "the connection is lost", "consuming input failed")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, the driver errors it wraps, and their causes (each once)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None, current.__cause__,
                 current.__context__]


def is_disconnect(exc: BaseException) -> bool:
    """Whether `exc` is a connection that died (e.g. of before a database restart): the
    operation may be run again at once on a new connection."""
    for error in _chain(exc):
        if getattr(error, "connection_invalidated", False):
            return True
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state == "57P01"):
            return True
        if type(error).__name__ in ("ConnectionDoesNotExistError", "InterfaceError") and any(
                text in str(error) for text in _DISCONNECT_TEXTS):
            return True
        if isinstance(error, ConnectionError):
            return True
    return False


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached or cannot store more (a full disk),
    rather than that the operation or the code is wrong."""
    if is_disconnect(exc):
        return True
    for error in _chain(exc):
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_STATE_PREFIXES):
            return True
        if getattr(error, "sqlite_errorcode", None) in _SQLITE_CODES:
            return True
        if isinstance(error, OSError | TimeoutError):
            return True
        if type(error).__module__.startswith("psycopg") and type(error).__name__ == "OperationalError":
            return True  # psycopg: cannot connect (refused, the server is starting)
    return False


_UNUSABLE_SQLITE = frozenset({sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_READONLY,
                              sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH})
# 28 invalid authorization, 3D000 no such database, 42501 insufficient privilege
_UNUSABLE_STATES = ("28", "3D", "42501")


def is_unusable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be used as configured (not a database, read
    only, no permission, no such database or user): at start-up, the operator's to fix."""
    for error in _chain(exc):
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNUSABLE_STATES):
            return True
        if getattr(error, "sqlite_errorcode", None) in _UNUSABLE_SQLITE:
            return True
    return False


def describe(exc: BaseException) -> str:
    """The innermost driver message of `exc`, on one line."""
    errors = list(_chain(exc))
    text = str(errors[-1] if len(errors) > 1 else exc).strip()
    return " ".join(text.split())[:300]


class Outage:
    """Logs an outage once when it starts and once when it ends (the first success after it),
    with how long it lasted and how many operations it refused."""

    def __init__(self) -> None:
        self.since: float | None = None
        """When the current outage started (monotonic), None while the database answers."""
        self.refused = 0

    def failed(self, exc: BaseException) -> None:
        """An operation failed because of `exc`, an outage (`is_outage`)."""
        self.refused += 1
        if self.since is None:
            self.since = time.monotonic()
            log.warning("database unavailable (%s): operations are answered 'unavailable' "
                        "(nothing applied, retryable) until it is back", describe(exc))

    def ok(self) -> None:
        """The database answered."""
        if self.since is not None:
            log.warning("database available again after %.1f s (%d operations refused)",
                        time.monotonic() - self.since, self.refused)
            self.since, self.refused = None, 0
