"""A throwaway PostgreSQL server for tests, and test databases on SQLite or PostgreSQL.

`PostgresServer` runs the installed PostgreSQL's own `initdb` and `pg_ctl` on a temporary
directory and a free loopback port (as the `postgres` user when run as root: PostgreSQL refuses
to run as root). Its cluster uses an ICU collation (en-US), not C, so code that relies on the
database's string order is caught. `Databases` hands out a fresh database per call on either
backend, and `query` reads one with `?` placeholders whatever the backend.

Only the standard library is imported at module level; SQLAlchemy loads on first query.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

BACKENDS = ("sqlite", "postgresql")
ENV_BACKENDS = "STATESYNC_TEST_DB"
"""Comma-separated backends the database-parametrized tests run on (`sqlite,postgresql`)."""
ENV_PG_BIN = "STATESYNC_PG_BIN"
"""The directory holding `initdb` and `pg_ctl` (default: the newest /usr/lib/postgresql/*/bin)."""
ICU_LOCALE = "en-US"


def find_pg_bin() -> Path | None:
    """Where PostgreSQL's server binaries are, or None when it is not installed."""
    candidates = [os.environ.get(ENV_PG_BIN)] if os.environ.get(ENV_PG_BIN) else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(re.sub(r"\D", "", p) or 0), reverse=True)
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(found.stdout.strip())
    for directory in candidates:
        if directory and (Path(directory) / "initdb").exists():
            return Path(directory)
    return None


def backends_to_test() -> list[str]:
    """The backends to test on: `$STATESYNC_TEST_DB`, else both when PostgreSQL is installed."""
    setting = os.environ.get(ENV_BACKENDS, "").strip()
    if not setting:
        return list(BACKENDS) if find_pg_bin() else ["sqlite"]
    chosen = [b.strip() for b in setting.split(",") if b.strip()]
    unknown = set(chosen) - set(BACKENDS)
    if unknown or not chosen:
        raise ValueError(f"{ENV_BACKENDS}={setting!r}: use a comma-separated subset of {BACKENDS}")
    return chosen


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A PostgreSQL cluster of its own in a temporary directory; `start()`, `stop()`.

    Tuned for tests, not durability: no fsync (a crash of the test machine loses it anyway);
    `durable=True` keeps PostgreSQL's default durability (fsync, full page writes, synchronous
    commit), as a production database runs (bench/scale.py).
    """

    def __init__(self, bin_dir: Path | None = None, *, durable: bool = False) -> None:
        self.durable = durable
        found = bin_dir or find_pg_bin()
        if found is None:
            raise RuntimeError(
                "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or "
                f"${ENV_PG_BIN}); on Debian: apt-get install postgresql")
        self.bin = found
        self.dir: Path | None = None
        self.port = 0
        self._user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        """The maintenance database (`postgres`)."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *command: str) -> None:
        argv = [str(self.bin / command[0]), *command[1:]]
        if self._user:
            argv = ["runuser", "-u", self._user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, env={
            **os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
        if done.returncode:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}{self._log_tail()}")

    def _log_tail(self) -> str:
        log = self.dir / "log" if self.dir else None
        return log.read_text()[-2000:] if log and log.exists() else ""

    def start(self) -> PostgresServer:
        """initdb (no sync, ~1 s) and start on a free loopback port (retried if taken)."""
        self.dir = Path(tempfile.mkdtemp(prefix="statesync-pg-"))
        if self._user:
            try:
                owner = pwd.getpwnam(self._user)
            except KeyError:
                raise RuntimeError("PostgreSQL does not run as root, and there is no "
                                   f"{self._user!r} user to run it as") from None
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        data = self.dir / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C.UTF-8", "--locale-provider=icu",
                  f"--icu-locale={ICU_LOCALE}")
        for attempt in range(5):
            self.port = _free_port()
            try:
                self.resume()
                return self
            except RuntimeError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _options(self) -> str:
        fast = "" if self.durable else (
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off ")
        return (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} {fast}"
                "-c max_connections=400")

    def halt(self, mode: str = "fast") -> None:
        """Stop the server (`pg_ctl stop -m fast|immediate|smart`), keeping its data: a
        database outage; `resume()` ends it."""
        assert self.dir is not None, "not started"
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")

    def resume(self) -> None:
        """Start the (initialized) server on its port and wait until it accepts connections."""
        assert self.dir is not None, "not started"
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w",
                  "-o", self._options(), "start")

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart -m mode`: every connection is cut; returns once it is back."""
        self.halt(mode)
        self.resume()

    def stop(self) -> None:
        """Stop at once and delete the cluster."""
        if self.dir is None:
            return
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def create_database(self, name: str, template: str | None = None, *,
                        tablespace: str | None = None) -> str:
        """A new database (ICU en-US collation, like the cluster), empty or a copy of database
        `template` (which nobody may be connected to), its tables in `tablespace` if given;
        its URL."""
        import psycopg

        for plain in (name, template or name, tablespace or name):
            if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", plain):
                raise ValueError(f"not a plain database name: {plain!r}")
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'
                         + (f' TEMPLATE "{template}"' if template else "")
                         + (f' TABLESPACE "{tablespace}"' if tablespace else ""))
        return self.database_url(name)

    def create_tablespace(self, name: str, directory: Path) -> None:
        """A tablespace in `directory` (empty; made the server's user's), e.g. on a small
        filesystem of its own: the data of a database made in it fills that one, while the
        write-ahead log stays in the cluster's directory."""
        import psycopg

        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain tablespace name: {name!r}")
        if self._user:
            owner = pwd.getpwnam(self._user)
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE \"{name}\" LOCATION '{directory}'")

    def drop_database(self, name: str) -> None:
        """Drop database `name`, ending the connections still open to it."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Databases:
    """Fresh test databases of one backend: `new(label)` -> a `--database-url`.

    SQLite: a file in `directory`; PostgreSQL: a new database on `server`."""

    def __init__(self, backend: str, directory: Path, server: PostgresServer | None) -> None:
        if backend == "postgresql" and server is None:
            raise ValueError("the postgresql backend needs a PostgresServer")
        self.backend, self.directory, self.server = backend, directory, server
        self._created: list[str] = []

    def new(self, label: str = "test") -> str:
        return self._create(label, None)

    def copy(self, url: str, label: str = "copy") -> str:
        """A new database holding what database `url` (of this backend, idle) holds."""
        return self._create(label, url)

    def _create(self, label: str, source: str | None) -> str:
        number = next(_numbers)
        if self.backend == "sqlite":
            path = self.directory / f"{label}-{number}.db"
            if source is not None:
                import sqlite3

                from sqlalchemy.engine import make_url

                with (contextlib.closing(sqlite3.connect(make_url(source).database)) as src,
                      contextlib.closing(sqlite3.connect(path)) as dst):
                    src.backup(dst)
            return f"sqlite+aiosqlite:///{path}"
        assert self.server is not None
        slug = re.sub(r"[^a-z0-9_]", "_", label.lower())[:40]
        template = source.rsplit("/", 1)[1] if source else None
        name = f"t{os.getpid()}_{number}_{slug}"
        self._created.append(name)
        return self.server.create_database(name, template)

    def drop_all(self) -> None:
        """Drop the PostgreSQL databases made here (SQLite files go with their directory)."""
        while self._created and self.server is not None:
            self.server.drop_database(self._created.pop())


_numbers = itertools.count(1)


def is_url(database: str | Path) -> bool:
    return isinstance(database, str) and "://" in database


def database_url(database: str | Path) -> str:
    """`database` as a URL: a path is a SQLite file."""
    return str(database) if is_url(database) else f"sqlite+aiosqlite:///{database}"


class Row(tuple):
    """A result row read by index or by column name (like `sqlite3.Row`; `dict(row)` works)."""

    _keys: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._keys.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        return self._keys


def query(database: str | Path, sql: str, *args: Any) -> list[Row]:
    """Run `sql` (`?` placeholders) on a test database (a URL or a SQLite path), committed,
    and return its rows (none for a statement without). A new connection each time: it sees
    what a server committed just before."""
    from sqlalchemy import create_engine, text

    from ..store.store import sync_url

    params = {f"p{i}": value for i, value in enumerate(args)}
    numbered = iter(range(len(args)))
    statement = text(re.sub(r"\?", lambda _: f":p{next(numbered)}", sql))
    engine = create_engine(sync_url(database_url(database)), poolclass=_null_pool())
    try:
        with engine.begin() as conn:
            result = conn.execute(statement, params)
            if not result.returns_rows:
                return []
            keys = tuple(result.keys())
            rows = []
            for values in result:
                row = Row(values)
                row._keys = keys
                rows.append(row)
            return rows
    finally:
        engine.dispose()


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool
