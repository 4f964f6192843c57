"""Start-up mistakes as one clear line on stderr and a non-zero exit, not a traceback.

A mistyped app path, an app file that raises (a dict registered instead of a `Machine`, a
syntax error), a port in use, and the version check's refusal (versions.py) are the user's to
fix, and the line says how; a traceback would only bury it.
"""

from __future__ import annotations

import errno
import logging
import traceback
from pathlib import Path

from ..app import App, load_app

EXIT_USAGE = 2
"""The exit status of a start-up mistake."""


def fail(message: str) -> SystemExit:
    """Raise the result: `statesync: <message>` on stderr, exit status 2."""
    import sys

    print(f"statesync: {message}", file=sys.stderr)
    return SystemExit(EXIT_USAGE)


def check_app_path(target: str) -> None:
    """`fail` when `target` names a .py file that does not exist."""
    location = target.partition(":")[0]
    if location.endswith(".py") and not Path(location).is_file():
        raise fail(f"no app file {location!r} (looked in {Path.cwd()}); "
                   "pass the path of the app's .py file, or package.module")


def load_app_or_exit(target: str) -> App:
    """`load_app(target)`, or `fail` with what went wrong and where in the app's code."""
    location = target.partition(":")[0]
    check_app_path(target)
    try:
        return load_app(target)
    except ModuleNotFoundError as exc:
        if location.endswith(".py") or exc.name is None or not location.startswith(exc.name):
            raise fail(f"cannot load {target}: {_where(exc, location)}{exc}") from None
        raise fail(f"no module {location!r} to load the app from ({exc}); pass the path of "
                   "the app's .py file, or an importable package.module") from None
    except SyntaxError as exc:
        where = f"{exc.filename}, line {exc.lineno}: " if exc.filename else ""
        raise fail(f"cannot load {target}: {where}SyntaxError: {exc.msg}") from None
    except Exception as exc:  # noqa: BLE001 - the app's own code failed: say where
        raise fail(f"cannot load {target}: {_where(exc, location)}"
                   f"{type(exc).__name__}: {exc}") from None


def _where(exc: BaseException, location: str) -> str:
    """`app.py, line 12: ` for the innermost frame in the app's files (else nothing)."""
    frames = traceback.extract_tb(exc.__traceback__)
    directory = str(Path(location).resolve().parent) if location.endswith(".py") else None
    for frame in reversed(frames):
        if directory is not None and frame.filename.startswith(directory):
            return f"{frame.filename}, line {frame.lineno}: "
    return ""


def bind_failure(host: str, port: int, exc: OSError) -> SystemExit:
    """The line for a listening socket that could not be bound."""
    if exc.errno == errno.EADDRINUSE:
        return fail(f"cannot listen on {host}:{port}: the address is already in use (another "
                    "server running?); stop it or pick another --port (0: any free port)")
    if exc.errno == errno.EACCES:
        return fail(f"cannot listen on {host}:{port}: permission denied (ports below 1024 "
                    "need privileges); pick another --port")
    return fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


class StartupFailureFilter(logging.Filter):
    """Drops uvicorn's traceback of a refused start-up (the statesync logger has already said
    why, in words) and its 'Application startup failed' line."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "StartupError:" in message and message.lstrip().startswith("Traceback"):
            self.refused = True
            return False
        return not (self.refused and message.startswith("Application startup failed"))
