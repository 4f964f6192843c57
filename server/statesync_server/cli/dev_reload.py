"""`statesync serve app.py --dev`: restart the server whenever the app's Python files change.

A supervisor process owns the listening socket and runs the real server as a child process
that inherits it, so the port stays the same and connections made during a restart wait in
the socket's backlog instead of failing. It polls the modification times of the app file and
of every `.py` file under the app's directory (no extra dependency; a save shows within about
`POLL` seconds), then stops the child gracefully and starts a new one on the new code. A child
that fails to start (a syntax error mid-edit) is reported, and the next save tries again.
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("statesync")

POLL = 0.3
"""Seconds between looks at the files."""
SKIPPED = frozenset({"__pycache__", "node_modules", ".git", ".venv", "venv", ".tox"})


def app_directory(app: str) -> Path:
    """The directory to watch for `path/to/app.py[:attr]` or `package.module[:attr]`."""
    location = app.partition(":")[0]
    if location.endswith(".py"):
        return Path(location).resolve().parent
    spec = importlib.util.find_spec(location)
    if spec is None or spec.origin is None:
        return Path.cwd()
    return Path(spec.origin).resolve().parent


def python_files(directory: Path) -> Iterator[Path]:
    for path in directory.rglob("*.py"):
        if not SKIPPED.intersection(path.relative_to(directory).parts[:-1]):
            yield path


def fingerprint(directory: Path) -> dict[Path, int]:
    """Each watched file's modification time (ns); a new or deleted file changes it too."""
    found = {}
    for path in python_files(directory):
        try:
            found[path] = path.stat().st_mtime_ns
        except FileNotFoundError:  # deleted while listed
            continue
    return found


def supervise(argv: list[str], sock: socket.socket, app: str) -> None:
    """Run `statesync serve <argv> --listen-fd N` on `sock`, restarting it on file changes,
    until Ctrl-C."""
    directory = app_directory(app)
    command = [sys.executable, "-m", "statesync_server", *argv, "--listen-fd", str(sock.fileno())]
    log.info("dev mode: watching the .py files under %s; a change restarts the server", directory)
    seen = fingerprint(directory)
    child = _start(command, sock)
    try:
        while True:
            time.sleep(POLL)
            now = fingerprint(directory)
            if now != seen:
                changed = sorted({p.name for p in set(now) ^ set(seen)}
                                 | {p.name for p in now if p in seen and now[p] != seen[p]})
                log.info("dev mode: %s changed; restarting", ", ".join(changed))
                seen = now
                _stop(child)
                child = _start(command, sock)
            elif child.poll() is not None and not child.reported:
                child.reported = True
                log.error("dev mode: the server exited (code %d); save a file to try again",
                          child.returncode)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(child)


class _Child(subprocess.Popen):  # type: ignore[type-arg]
    reported = False


def _start(command: list[str], sock: socket.socket) -> _Child:
    return _Child(command, pass_fds=(sock.fileno(),), preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if this supervisor dies first (say, it is killed), so
    no server outlives `--dev`. Elsewhere nothing (a killed supervisor may leave it)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1  # noqa: N806 - the C constant's name
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop(child: _Child, timeout: float = 10.0) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
