"""SQLAlchemy 2 storage: async reads, and `commit`, the single place a transaction is written.

Reads use the async engine (aiosqlite). Writes go through one connection of the synchronous
driver with the same tables and statements. On SQLite a commit runs right on the event loop,
straight through the driver: it takes ~0.5 ms (fsync included) on a quiet disk, while handing
it, or only its COMMIT, to a thread cost more (each commit then needs the GIL twice on that
thread: measured again in issue 24, +25-75 us of CPU per event at 1,000 events/s; see
docs/performance.md), and every acknowledgement waits for the commit anyway. Other databases
are a network round trip away: their commits run on a dedicated writer thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy import (
    Connection, Engine, bindparam, create_engine, delete, event, func, insert, select, text,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..errors import ErrorCode, StatesyncError
from .migrate import exclusive, migrate
from .outage import Outage, describe, is_disconnect, is_outage, is_unusable
from .schema import checkpoints, events, index_entries, instances, outbox, server_clock, timers
from .workrows import SideWrite
from .workrows import statements as _workflow_statements


log = logging.getLogger("statesync.store")


def dumps(value: Any) -> str:
    """JSON text as stored in the database."""
    return to_json(value).decode()


def loads(text: str) -> Any:
    """The inverse of `dumps`."""
    return from_json(text)


_DRIVERS = {"sqlite": ("aiosqlite", "pysqlite"), "postgresql": ("asyncpg", "psycopg")}
"""(async, sync) driver of each supported dialect: the `[postgres]` extra installs both."""


def _with_driver(url: str | URL, which: int) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgres":  # the libpq spelling
        backend = "postgresql"
    drivers = _DRIVERS.get(backend)
    if drivers is None:
        return parsed
    return parsed.set(drivername=f"{backend}+{drivers[which]}")


def async_url(url: str | URL) -> URL:
    """`url` with the async driver of its dialect (`postgresql://` -> `postgresql+asyncpg://`,
    `sqlite:///` -> `sqlite+aiosqlite:///`); other dialects are left as given."""
    return _with_driver(url, 0)


def sync_url(url: str | URL) -> URL:
    """`url` with the blocking driver of its dialect (psycopg 3 for PostgreSQL, the standard
    library's sqlite3 for SQLite), for the writer and for tools."""
    return _with_driver(url, 1)


class WriteConflict(Exception):
    """A write broke a uniqueness rule (e.g. an event id already applied), or the database
    rolled it back for another transaction's sake (a deadlock); nothing was written."""


_RETRYABLE_STATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


@dataclass(slots=True)
class LogRow:
    """One committed transition, as appended to the event log."""

    seq: int
    event: dict[str, Any]
    event_id: str | None
    origin: str
    subject: str | None
    value: Any
    tags: list[str]
    public: Any
    status: str
    at: float
    emitted: list[Any] | None = None
    """The events the transition emitted (`emit`), as the machine made them."""


@dataclass(slots=True)
class InstanceWrite:
    """Everything one instance commits in one batch: its new snapshot and the log rows of
    the transitions that produced it."""

    machine: str
    instance: str
    version: str
    snapshot: dict[str, Any]
    seq: int
    status: str
    insert: bool
    log: list[LogRow] = field(default_factory=list)
    indexes: dict[str, list[str]] | None = None
    """Index name -> the instance's encoded keys now (replacing its rows of that index)."""
    checkpoints: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    """(seq, version, snapshot dict) full snapshots kept for the history (see history.py)."""
    workflow: SideWrite | None = None
    """Timers started/cancelled/fired and outbox rows (see workrows.py). A write whose
    `snapshot` is None carries only these (e.g. an effect that finished)."""


@dataclass(frozen=True, slots=True)
class StoredInstance:
    """An instance row as loaded."""

    version: str
    snapshot: dict[str, Any]
    seq: int
    status: str


class Store:
    """The database: SQLite (WAL) by default, or PostgreSQL (`pip install
    'statesync[postgres]'`). A URL without a driver gets the dialect's (see `async_url`)."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", lock: bool = True) -> None:
        self.url = async_url(url)
        self.sqlite_synchronous = sqlite_synchronous
        self._commit_on_loop = self.is_sqlite  # see the module docstring
        self.engine: AsyncEngine | None = None
        self._sync_engine: Engine | None = None
        self._writer: Connection | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="statesync-writer")
        self._driver_sql: dict[Any, tuple[str, Callable[[dict[str, Any]], Any]]] = {}
        self.clock: Callable[[], float] = time.time
        """The time written into rows (`created_at`, `updated_at`): the server's clock, set by
        the engine (virtual with `--clock manual`)."""
        self.node: str | None = None
        """This process's id in cluster mode (cluster.py): commits then own their new timer
        and outbox rows and NOTIFY the other processes."""
        self._lock = lock
        """Whether `open` takes the SQLite file's single-process lock (read-only tools don't)."""
        self._lock_file: Any = None
        self.outage = Outage()
        """The database's current outage, if any (logged once; see outage.py)."""

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    async def open(self) -> None:
        """Connect, set SQLite pragmas, and create or migrate the schema (store/migrate.py)."""
        _require_drivers(self.url)
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            if self._lock:
                self._lock_file = _lock_exclusively(Path(self.url.database))
        # The synchronous twin of the URL: the dialect's default (blocking) driver.
        # (SQLite: the connection is made on the writer thread and used on the event loop.)
        if not self.is_sqlite and _DRIVER_NOTES not in logging.getLogger("psycopg").filters:
            logging.getLogger("psycopg").addFilter(_DRIVER_NOTES)
        self._sync_engine = create_engine(
            sync_url(self.url),
            connect_args={"check_same_thread": False} if self.is_sqlite else {},
        )
        if self.is_sqlite:
            event.listen(self._sync_engine, "connect", self._sqlite_pragmas)
        await self._in_writer(migrate, self._sync_engine)  # creates or upgrades the schema
        self.engine = create_async_engine(self.url)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", self._sqlite_pragmas)
        event.listen(self.engine.sync_engine, "before_cursor_execute", _refuse_nul)
        self._writer = await self._in_writer(self._sync_engine.connect)

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Held by one process at a time among all on this database (see migrate.exclusive):
        for start-up work that must not run twice at once (e.g. recording versions)."""
        assert self._sync_engine is not None, "Store.open() was not awaited"
        lock = exclusive(self._sync_engine)
        await asyncio.to_thread(lock.__enter__)
        try:
            yield
        finally:
            await asyncio.to_thread(lock.__exit__, None, None, None)

    async def _in_writer(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _sqlite_pragmas(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={self.sqlite_synchronous}")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    async def close(self) -> None:
        if self._writer is not None:
            await self._in_writer(self._writer.close)
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        self._thread.shutdown()
        if self.engine is not None:
            await self.engine.dispose()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    async def current_seq(self, machine: str, name: str) -> int | None:
        """The instance's committed seq (None if it does not exist): one key lookup."""
        query = select(instances.c.seq).where(instances.c.machine == machine,
                                              instances.c.name == name)
        async with self._reading() as conn:
            return (await conn.execute(query)).scalar()

    def _engine(self) -> AsyncEngine:
        assert self.engine is not None, "Store.open() was not awaited"
        return self.engine

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads of committed rows; on PostgreSQL in autocommit, which
        saves the BEGIN and ROLLBACK round trips around every read of the hot path."""
        async with self._engine().connect() as conn:
            if not self.is_sqlite:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    async def catch_up(self, machine: str, name: str,
                       since: int) -> tuple[StoredInstance | None, list[LogRow]]:
        """The instance's current row and its log rows after `since` up to it, on one
        connection (a cluster process catching up with another's commits)."""
        async with self._reading() as conn:
            stored = _stored(await conn.execute(_load_query(machine, name)))
            if stored is None or stored.seq <= since:
                return stored, []
            rows = (await conn.execute(_log_query(machine, name, since, stored.seq - since))).all()
        return stored, [_log_row_of(r) for r in rows]

    async def load(self, machine: str, name: str) -> StoredInstance | None:
        """The instance's current row, or None."""
        async with self._reading() as conn:
            return _stored(await conn.execute(_load_query(machine, name)))

    async def applied(self, machine: str, name: str,
                      event_ids: list[str]) -> dict[str, tuple[int, str | None]]:
        """(seq, sender's subject) of each of `event_ids` already applied."""
        query = select(events.c.event_id, events.c.seq, events.c.subject).where(
            events.c.machine == machine,
            events.c.instance == name,
            events.c.event_id.in_(event_ids),
        )
        async with self._reading() as conn:
            return {row.event_id: (row.seq, row.subject) for row in await conn.execute(query)}

    async def log(self, machine: str, name: str, since: int, limit: int | None) -> list[LogRow]:
        """Log rows with seq > `since`, oldest first."""
        async with self._reading() as conn:
            rows = (await conn.execute(_log_query(machine, name, since, limit))).all()
        return [_log_row_of(r) for r in rows]

    async def instance_counts(self) -> dict[str, dict[str, int]]:
        """Number of stored instances per machine and version (for the startup summary)."""
        query = (select(instances.c.machine, instances.c.version, func.count())
                 .group_by(instances.c.machine, instances.c.version))
        counts: dict[str, dict[str, int]] = {}
        async with self._engine().connect() as conn:
            for machine, version, count in await conn.execute(query):
                counts.setdefault(machine, {})[version] = count
        return counts

    async def timer_dues(self, machine: str, name: str) -> dict[str, float]:
        """The instance's pending timers: timer id -> due time."""
        query = select(timers.c.timer_id, timers.c.due).where(timers.c.machine == machine,
                                                               timers.c.instance == name)
        async with self._reading() as conn:
            return {row.timer_id: row.due for row in await conn.execute(query)}

    async def work_row(self, key: tuple[str, str, int, int]) -> Any:
        """The outbox row `key` (machine, instance, seq, idx), or None."""
        async with self._reading() as conn:
            return (await conn.execute(select(outbox).where(*_outbox_key(key)))).first()

    async def change_work(self, key: tuple[str, str, int, int], status: str,
                          values: dict[str, Any]) -> bool:
        """Set `values` on the outbox row `key` if its status is `status` (an operator's
        retry or dismissal); True if it changed."""
        statement = update(outbox).where(*_outbox_key(key), outbox.c.status == status)

        def write(conn: Any) -> bool:
            with conn.begin():
                return conn.execute(statement.values(**values)).rowcount == 1

        if self._commit_on_loop:
            return write(self._writer)
        return await self._in_writer(write, self._writer)

    async def record_clock(self, now: float | None) -> None:
        """Keep the time of the server's manual clock (None: the wall clock) for the tools
        that read the database beside it (`statesync timers`, `statesync effects`)."""
        def write(conn: Any) -> None:
            with conn.begin():
                conn.execute(delete(server_clock))
                if now is not None:
                    conn.execute(insert(server_clock).values(id=1, now=now))

        if self._commit_on_loop:
            write(self._writer)
        else:
            await self._in_writer(write, self._writer)

    async def commit(self, writes: list[InstanceWrite]) -> None:
        """Write a batch of instances' transitions in ONE transaction: all or nothing.

        The write path (one dedicated connection; `fenced` is the other, for a write that
        lost a race); durable timers and outbox rows join this transaction. Raises
        `WriteConflict` when a uniqueness rule is broken.
        """
        statements = self._statements(writes, self.clock())
        if self._commit_on_loop:
            self._sqlite_transaction(statements)
        else:
            await self._in_writer(self._transaction, statements, writes)

    def _sqlite_transaction(self, statements: list[tuple[Any, list[dict[str, Any]]]]) -> None:
        """SQLite, on the loop: the statements straight through the driver, without
        SQLAlchemy's execution context per statement (pysqlite begins the transaction at the
        first of them), then the COMMIT. A broken uniqueness rule raises `WriteConflict`
        before anything is committed."""
        assert self._writer is not None, "Store.open() was not awaited"
        driver = self._writer.connection.dbapi_connection
        assert driver is not None
        try:
            with _conflicts():
                for statement, rows in statements:
                    sql, params = self._driver_sql.get(statement) or self._compile(statement)
                    driver.executemany(sql, [params(row) for row in rows])
            driver.commit()
        except BaseException:
            driver.rollback()
            raise

    def _statements(self, writes: list[InstanceWrite],
                    now: float) -> list[tuple[Any, list[dict[str, Any]]]]:
        """The statements of one transaction writing `writes`, each with its rows."""
        # Rows are locked in one order by every process (cluster mode): two group commits
        # touching the same instances in other orders deadlocked, each costing a second.
        writes = sorted(writes, key=lambda w: (w.machine, w.instance))
        rows: list[tuple[Any, list[dict[str, Any]]]] = [
            (_INSERT_INSTANCE, [_instance_row(w, now) for w in writes if w.insert]),
            (_UPDATE_INSTANCE,
             [_instance_row(w, now) for w in writes if not w.insert and w.snapshot is not None]),
            (_INSERT_EVENT, [_log_row(w, r) for w in writes for r in w.log]),
            *_side_rows(writes),  # index rows, checkpoints
            *_workflow_statements([w.workflow for w in writes if w.workflow], now, self.node),
            (_NOTIFY, [_notice(self.node, w) for w in writes if w.log] if self.node else []),
        ]
        return [(statement, r) for statement, r in rows if r]

    @contextlib.asynccontextmanager
    async def fenced(self, machine: str, name: str) -> AsyncIterator[Fence]:
        """A transaction holding the instance's row lock (`SELECT ... FOR UPDATE`): until
        `Fence.commit` (or the end of the block), no other process commits to the instance,
        so reads made inside see every commit to it and the write cannot lose a race. For a
        write that lost races to other processes (cluster mode)."""
        async with self._engine().connect() as conn:
            await conn.begin()
            await conn.execute(select(instances.c.seq).where(
                instances.c.machine == machine, instances.c.name == name).with_for_update())
            try:
                yield Fence(self, conn)
            finally:
                if conn.in_transaction():
                    await conn.rollback()

    def _transaction(self, statements: list[tuple[Any, list[dict[str, Any]]]],
                     writes: list[InstanceWrite] | None = None) -> None:
        """Runs on the writer thread (databases other than SQLite).

        A writer connection that died (the database restarted since its last commit) is
        replaced and the transaction run again on the new one, once: so the first write after
        a restart does not fail. If the first attempt's COMMIT was in fact applied, the second
        breaks the log's uniqueness rules and raises `WriteConflict`, which the engine resolves
        as for any lost race (it reads which event ids are applied: nothing applies twice)."""
        assert self._sync_engine is not None, "Store.open() was not awaited"
        _COMMITTING.writes, _COMMITTING.node = writes, self.node  # for the driver's warnings
        try:
            self._attempt(statements)
        finally:
            _COMMITTING.writes = None

    def _attempt(self, statements: list[tuple[Any, list[dict[str, Any]]]]) -> None:
        """`_transaction`'s work: run once more on a new connection if the writer died."""
        for attempt in range(2):
            if self._writer is None or self._writer.invalidated or self._writer.closed:
                self._replace_writer()
            conn = self._writer
            assert conn is not None
            try:
                with _conflicts(), conn.begin():
                    for statement, rows in statements:
                        sql, params = self._driver_sql.get(statement) or self._compile(statement)
                        conn.exec_driver_sql(sql, [params(row) for row in rows])
                return
            except WriteConflict:
                raise
            except Exception as exc:
                if attempt or not is_disconnect(exc):
                    raise
                self._replace_writer()

    def _replace_writer(self) -> None:
        """A new writer connection in place of the current one (closed, whatever its state)."""
        assert self._sync_engine is not None
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.invalidate()
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self._writer = self._sync_engine.connect()

    def _compile(self, statement: Any) -> tuple[str, Callable[[dict[str, Any]], Any]]:
        """`statement` compiled once for the writer's dialect, and how to turn a row dict into
        its driver parameters. Executing that with `exec_driver_sql` skips the per-call cache
        lookup and bind processing of `execute`, about a quarter of a small transaction's CPU
        (the columns written are plain text and numbers, so no bind processing is lost)."""
        assert self._writer is not None
        compiled = statement.compile(dialect=self._writer.dialect)
        # literal values, e.g. status = 'pending'
        defaults = {name: bind.effective_value for name, bind in compiled.binds.items()}
        keys = compiled.positiontup

        def named(row: dict[str, Any]) -> dict[str, Any]:
            return {**defaults, **row}

        def positional(row: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(row[k] if k in row else defaults[k] for k in keys)

        params = named if keys is None else positional

        self._driver_sql[statement] = compiled.string, params
        return compiled.string, params


_COMMITTING = threading.local()
"""The writes the writer thread is committing (and its process), while it commits."""


class _DriverNotes(logging.Filter):
    """psycopg's warnings during a commit (`error ignored terminating <Pipeline>`: a second
    error while the first, e.g. a lost race, is already being raised and handled) are said at
    DEBUG with the instances and the process they concern, not as bare WARNINGs."""

    def filter(self, record: logging.LogRecord) -> bool:
        writes = getattr(_COMMITTING, "writes", None)
        if writes is None:
            return True
        names = ", ".join(f"{w.machine}/{w.instance}" for w in writes[:3])
        more = f" and {len(writes) - 3} more" if len(writes) > 3 else ""
        log.debug("psycopg, committing %s%s (process %s): %s", names, more,
                  getattr(_COMMITTING, "node", None) or "-", record.getMessage())
        return False


_DRIVER_NOTES = _DriverNotes()


class Fence:
    """The open transaction of `Store.fenced`."""

    def __init__(self, store: Store, conn: AsyncConnection) -> None:
        self.store, self.conn = store, conn

    async def commit(self, write: InstanceWrite) -> None:
        """Write `write` in the fenced transaction and commit it (`WriteConflict` as
        `Store.commit` raises it: a resent event id)."""
        with _conflicts():
            for statement, rows in self.store._statements([write], self.store.clock()):
                await self.conn.execute(statement, rows)
            await self.conn.commit()


def _outbox_key(key: tuple[str, str, int, int]) -> list[Any]:
    machine, instance, seq, idx = key
    return [outbox.c.machine == machine, outbox.c.instance == instance, outbox.c.seq == seq,
            outbox.c.idx == idx]


@contextlib.contextmanager
def _conflicts() -> Iterator[None]:
    """A uniqueness rule broken, or a deadlock or serialization failure (the transaction was
    rolled back, so it is safe to redo), raised as a `WriteConflict`; other errors as they are."""
    try:
        yield
    except IntegrityError as exc:
        raise WriteConflict(str(exc.orig)) from exc
    except sqlite3.IntegrityError as exc:  # the SQLite write path uses the driver directly
        raise WriteConflict(str(exc)) from exc
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) not in _RETRYABLE_STATES:
            raise
        raise WriteConflict(str(exc.orig)) from exc


def _load_query(machine: str, name: str) -> Any:
    return select(
        instances.c.version, instances.c.snapshot, instances.c.seq, instances.c.status
    ).where(instances.c.machine == machine, instances.c.name == name)


def _stored(result: Any) -> StoredInstance | None:
    row = result.first()
    if row is None:
        return None
    return StoredInstance(row.version, loads(row.snapshot), row.seq, row.status)


def _log_query(machine: str, name: str, since: int, limit: int | None) -> Any:
    return (
        select(events)
        .where(events.c.machine == machine, events.c.instance == name, events.c.seq > since)
        .order_by(events.c.seq)
        .limit(limit)
    )


def _log_row_of(r: Any) -> LogRow:
    return LogRow(r.seq, loads(r.event), r.event_id, r.origin, r.subject, loads(r.value),
                  loads(r.tags), loads(r.public), r.status, r.at,
                  loads(r.emitted) if r.emitted else None)


_NOTIFY = text("SELECT pg_notify('statesync', :payload)")


def _notice(node: str, w: InstanceWrite) -> dict[str, Any]:
    """The NOTIFY payload of one instance's commit: who, which instance, which seqs (what
    they were and emitted is read from the log)."""
    return {"payload": dumps([node, w.machine, w.instance, w.log[0].seq, w.log[-1].seq])}


class CannotOpen(RuntimeError):
    """The database cannot be used as asked (its message says why and what to do)."""


class DatabaseInUse(CannotOpen):
    """Another server process already serves this SQLite file."""


def database_refusal(exc: BaseException, url: str) -> str | None:
    """The line saying why the server cannot use its database at start-up (in use by another
    process, drivers missing, a malformed URL, unreachable, no disk space, not a database, no
    permission or no such database), or None when
    `exc` is a bug rather than the user's to fix."""
    if isinstance(exc, CannotOpen):
        return str(exc)
    if isinstance(exc, ArgumentError):
        return f"--database-url {url!r}: {exc}"
    if is_outage(exc) or is_unusable(exc):
        try:
            shown = make_url(url).render_as_string(hide_password=True)
        except ArgumentError:
            shown = url
        return f"cannot use the database {shown}: {describe(exc)}"
    return None


def _lock_exclusively(database: Path) -> Any:
    """Hold an exclusive lock on `<database>.lock` for the life of the process: SQLite is
    served by one process (docs/deployment.md)."""
    import fcntl

    path = database.with_name(database.name + ".lock")
    handle = open(path, "a+")  # noqa: SIM115 - held open until the store closes
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise DatabaseInUse(
            f"{database} is already served by another statesync process (lock {path}); "
            "SQLite is single-process: stop the other server, or use PostgreSQL for "
            "several processes (docs/deployment.md)") from None
    return handle


def _require_drivers(url: URL) -> None:
    """Name the missing drivers of a PostgreSQL URL (before anything connects)."""
    if url.get_backend_name() != "postgresql":
        return
    missing = [name for name in ("asyncpg", "psycopg") if importlib.util.find_spec(name) is None]
    if missing:
        raise CannotOpen(f"PostgreSQL needs the {' and '.join(missing)} driver(s): "
                           "pip install 'statesync[postgres]'")


def _refuse_nul(_conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any,
                executemany: bool) -> None:
    """Before a read reaches the database: text with a NUL character is refused alike on every
    backend (PostgreSQL rejects it; nothing stored holds one: writes are checked upstream)."""
    for row in parameters if executemany else (parameters,):
        for value in row.values() if isinstance(row, dict) else row or ():
            if type(value) is str and "\x00" in value:
                raise StatesyncError(ErrorCode.INVALID_MESSAGE,
                                     "text may not contain NUL characters")


_INSERT_INSTANCE = insert(instances)
_INSERT_EVENT = insert(events)
_INSERT_INDEX_ROWS = insert(index_entries)
_INSERT_CHECKPOINT = insert(checkpoints)
_UPDATE_INSTANCE = (
    update(instances)
    .where(instances.c.machine == bindparam("k_machine"), instances.c.name == bindparam("k_name"))
    .values(
        snapshot=bindparam("v_snapshot"),
        seq=bindparam("v_seq"),
        version=bindparam("v_version"),
        status=bindparam("v_status"),
        updated_at=bindparam("v_updated_at"),
    )
)


def _instance_row(w: InstanceWrite, now: float) -> dict[str, Any]:
    if w.insert:
        return {
            "machine": w.machine, "name": w.instance, "version": w.version,
            "snapshot": dumps(w.snapshot), "seq": w.seq, "status": w.status,
            "created_at": now, "updated_at": now,
        }
    return {
        "k_machine": w.machine, "k_name": w.instance, "v_snapshot": dumps(w.snapshot),
        "v_seq": w.seq, "v_version": w.version, "v_status": w.status, "v_updated_at": now,
    }


def _log_row(w: InstanceWrite, r: LogRow) -> dict[str, Any]:
    return {
        "machine": w.machine, "instance": w.instance, "seq": r.seq, "event": dumps(r.event),
        "event_id": r.event_id, "origin": r.origin, "subject": r.subject,
        "value": dumps(r.value), "tags": dumps(r.tags), "public": dumps(r.public),
        "status": r.status, "at": r.at, "emitted": dumps(r.emitted) if r.emitted else None,
    }


_DELETE_INDEX_ROWS = delete(index_entries).where(
    index_entries.c.machine == bindparam("k_machine"),
    index_entries.c.instance == bindparam("k_instance"),
    index_entries.c.name == bindparam("k_name"),
)


def _side_rows(writes: list[InstanceWrite]) -> list[tuple[Any, list[dict[str, Any]]]]:
    """Index rows (replaced per changed index) and checkpoints of a batch of writes."""
    deleted, added, kept = [], [], []
    for w in writes:
        for name, keys in (w.indexes or {}).items():
            if not w.insert:
                deleted.append({"k_machine": w.machine, "k_instance": w.instance, "k_name": name})
            added.extend(
                {"machine": w.machine, "name": name, "key": key, "instance": w.instance}
                for key in keys
            )
        kept.extend(
            {"machine": w.machine, "instance": w.instance, "seq": seq, "version": version,
             "snapshot": dumps(snapshot)}
            for seq, version, snapshot in w.checkpoints
        )
    out: list[tuple[Any, list[dict[str, Any]]]] = []
    if deleted:
        out.append((_DELETE_INDEX_ROWS, deleted))
    if added:
        out.append((_INSERT_INDEX_ROWS, added))
    if kept:
        out.append((_INSERT_CHECKPOINT, kept))
    return out
