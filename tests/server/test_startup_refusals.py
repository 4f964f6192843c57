"""Every start-up refusal of `statesync serve` is one line saying why, with exit status 2 and
no traceback (docs/deployment.md): the app cannot be loaded, the port is taken, the database
cannot be used (in use by another process, not a database, a directory that cannot hold it,
unreachable, no such database, a malformed URL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from server_harness import APP, SECRET

TIMEOUT = 60


def _serve(app: str, database_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statesync_server", "serve", app, "--host", "127.0.0.1",
         "--database-url", database_url, *extra],
        capture_output=True, text=True, timeout=TIMEOUT,
        env={**os.environ, "STATESYNC_SECRET": SECRET})


def _assert_refused(done: subprocess.CompletedProcess[str], reason: str) -> None:
    """Exit status 2, and the reason said on one line, with no traceback."""
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert len([line for line in output.splitlines() if reason in line]) == 1, output
    assert "Traceback" not in output and "startup failed" not in output, output


def test_a_missing_app_file(tmp_path: Path) -> None:
    _assert_refused(_serve(str(tmp_path / "nowhere.py"), f"sqlite:///{tmp_path}/a.db"),
                    "no app file")


def test_an_app_file_that_raises(tmp_path: Path) -> None:
    app = tmp_path / "broken.py"
    app.write_text("raise RuntimeError('the app is broken')\n")
    _assert_refused(_serve(str(app), f"sqlite:///{tmp_path}/a.db"), "the app is broken")


def test_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _assert_refused(_serve(APP, f"sqlite:///{tmp_path}/a.db", "--port", str(port)),
                        "already in use")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "a.db").write_bytes(b"this is no SQLite database" * 100)
    _assert_refused(_serve(APP, f"sqlite:///{tmp_path}/a.db", "--port", "0"),
                    "cannot use the database")


def test_a_directory_that_cannot_hold_the_database(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("")
    _assert_refused(_serve(APP, f"sqlite:///{tmp_path}/plain-file/a.db", "--port", "0"),
                    "cannot use the database")


def test_no_such_postgresql_database(postgres) -> None:
    _assert_refused(_serve(APP, postgres.database_url("no_such_database"), "--port", "0"),
                    "cannot use the database")


@pytest.mark.parametrize("url, reason", [
    ("postgresql://postgres@127.0.0.1:1/nowhere", "cannot use the database"),  # unreachable
    ("nosuchdialect://host/db", "--database-url"),
])
def test_an_unusable_database_url(url: str, reason: str) -> None:
    _assert_refused(_serve(APP, url, "--port", "0"), reason)
