"""Secondary indexes over instance contexts, and queries by index.

A machine declares `indexes={"email": "email", "plan": "billing.plan"}`: index name -> dotted
path into the context. The value there (a string, number or boolean, or a list of them: one
entry per distinct element) is kept in `index_entries` in the same transaction as the
transition that produced it. A missing or null value (or another type) has no entry.

One B-tree serves every type: `key` is an order-preserving text encoding, a type letter then
the value (`b0`/`b1`; `n` + 16 hex digits of the IEEE-754 double with the sign trick; `s` + the
string), so numbers sort numerically, strings by code point, and each range operator is one
index range scan. Numbers are doubles (integers beyond 2**53 lose precision).

A composite index (`Index(("plan", "status"))`) keeps one entry per instance whose values at
every path are scalars: the components' keys joined by `SEPARATOR` (each escaped), so entries
sort by the first value, then the second... It answers `eq` with a list of values: all of them,
or the leading ones (`["pro"]`: every status of plan "pro", ordered by status).

Queries: `eq ne lt lte gt gte prefix`, ascending or descending by (value, instance name),
`limit` and an opaque `cursor` (keyset pagination: the next page starts strictly after the
last entry seen, so pages neither repeat nor skip an entry that did not change meanwhile).
Results are filtered by the machine's `allow_read` for the caller and projected for it
(`statesync_server.engine.privacy`); a page's items and cursor depend only on the rows the
caller may read (`run_query`); an item carries its index `key` only where `key_visible`
allows, and cursors are sealed (`statesync_server.engine.cursors`).
"""

from __future__ import annotations

import json
import math
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json
from sqlalchemy import and_, delete, insert, or_, select, tuple_

from . import privacy
from ..app import MachineSpec
from .cursors import CursorSealer
from ..errors import ErrorCode, StatesyncError
from ..limits import MAX_INDEXED_STRING, MAX_INDEXED_STRING_BYTES, check_text
from ..store.schema import index_defs, index_entries, instances

OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "prefix")
MAX_LIMIT = 1000
SCAN_BUDGET = 10_000
"""Rows one page examines at most, readable or not (a bound on the work of one request)."""
_MAX_BATCH = 256  # rows read in one round trip, then handled (the event loop waits meanwhile)
_BACKFILL_PAGE = 5000


# --- keys -------------------------------------------------------------------------------------


def encode_key(value: Any) -> str | None:
    """The sortable text key of a scalar, or None if it cannot be indexed."""
    if isinstance(value, bool):
        return "b1" if value else "b0"
    if isinstance(value, int | float):
        x = float(value)
        if math.isnan(x):
            return None
        bits = struct.unpack(">Q", struct.pack(">d", x + 0.0))[0]  # + 0.0: -0.0 -> 0.0
        bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | (1 << 63)
        return f"n{bits:016x}"
    if isinstance(value, str):
        return "s" + value
    return None


def decode_key(key: str, composite: bool = False) -> Any:
    """The value of a key (a composite index's: the list of its values)."""
    if composite:
        return [decode_key(part.replace("\x01\x02", "\x01")) for part in key.split(SEPARATOR)]
    kind, rest = key[0], key[1:]
    if kind == "b":
        return rest == "1"
    if kind == "s":
        return rest
    bits = int(rest, 16)
    bits = bits ^ (1 << 63) if bits >> 63 else bits ^ 0xFFFF_FFFF_FFFF_FFFF
    x = struct.unpack(">d", struct.pack(">Q", bits))[0]
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def lookup(context: Any, path: str) -> Any:
    node = context
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


SEPARATOR = "\x01\x01"
"""Between a composite key's components; a component's own \x01 is written \x01\x02, so a
shorter component sorts first (\x01\x01 is below every other character that can follow)."""
_AFTER_PREFIX = "\x01\x02"  # the smallest text above every key that continues a prefix


def composite_key(values: list[Any]) -> str | None:
    """The key of a list of scalars (a composite index's values), None if one is not one."""
    parts = [encode_key(v) for v in values]
    if any(part is None for part in parts):
        return None
    return SEPARATOR.join(part.replace("\x01", "\x01\x02") for part in parts)  # type: ignore[union-attr]


def index_keys(context: Any, path: str | tuple[str, ...]) -> list[str]:
    """The keys an instance's context has in an index: one per distinct scalar at a path (a
    list gives one per element), or for a composite index one key of all its paths' values
    (none when one of them is missing or not a scalar)."""
    if isinstance(path, str):
        return keys_for(lookup(context, path))
    values = [lookup(context, part) for part in path]
    if any(isinstance(v, list | dict) for v in values):
        return []
    key = composite_key(values)
    return [key] if key is not None and _storable_composite(key) else []


def _storable_composite(key: str) -> bool:
    return ("\x00" not in key and len(key) <= MAX_INDEXED_STRING + 1
            and len(key.encode()) <= MAX_INDEXED_STRING_BYTES + 1)


def stored_path(path: str | tuple[str, ...]) -> str:
    """How `index_defs` records an index's path (a composite: its paths as a JSON list)."""
    return path if isinstance(path, str) else json.dumps(list(path))


def keys_for(value: Any) -> list[str]:
    """Sorted distinct keys of a context value (a scalar or a list of scalars). A string the
    database cannot store (`check_indexable`) has none: the transitions that would store one
    are refused, but a back-fill may meet one that was stored before the index existed."""
    items = value if isinstance(value, list) else [value]
    return sorted({k for k in map(encode_key, items) if k is not None and _storable(k)})


def _storable(key: str) -> bool:
    return key[0] != "s" or (
        "\x00" not in key and len(key) <= MAX_INDEXED_STRING + 1
        and len(key.encode()) <= MAX_INDEXED_STRING_BYTES + 1)


def check_indexable(indexes: Mapping[str, str | tuple[str, ...]], context: Any) -> None:
    """Refuse (`invalid-event`) a context holding an indexed string the database cannot store
    (a NUL character, over `MAX_INDEXED_STRING` characters or `MAX_INDEXED_STRING_BYTES`
    bytes; a composite index's values together), on every backend alike."""
    for name, path in indexes.items():
        for part in (path,) if isinstance(path, str) else path:
            value = lookup(context, part)
            for item in value if isinstance(value, list) else (value,):
                if isinstance(item, str):
                    check_text(item, f"a value of index {name!r}", MAX_INDEXED_STRING,
                               max_bytes=MAX_INDEXED_STRING_BYTES, code=ErrorCode.INVALID_EVENT)
        if not isinstance(path, str):
            key = composite_key([lookup(context, part) for part in path])
            if key is not None and not _storable_composite(key):
                raise StatesyncError(ErrorCode.INVALID_EVENT, (
                    f"the values of index {name!r} together are over {MAX_INDEXED_STRING} "
                    "characters"))


def instance_keys(indexes: Mapping[str, str | tuple[str, ...]],
                  context: Any) -> dict[str, list[str]]:
    return {name: index_keys(context, path) for name, path in indexes.items()}


def index_changes(app: Any, machine: str, old: Any, new: Any, insert: bool) -> dict[str, list[str]] | None:
    """The indexes whose keys differ between two committed states (for the write)."""
    spec = app.machines.get(machine)
    indexes = spec.indexes if spec is not None else None
    if not indexes or new is None:
        return None
    new_context = new.snapshot.context
    if insert or old is None:
        return {n: k for n, k in instance_keys(indexes, new_context).items() if k}
    old_context = old.snapshot.context
    if old_context is new_context:
        return None
    changed = {}
    for name, path in indexes.items():
        keys = index_keys(new_context, path)
        if keys != index_keys(old_context, path):
            changed[name] = keys
    return changed or None


# --- back-fill ----------------------------------------------------------------------------------


async def backfill(app: Any, store: Any) -> dict[tuple[str, str], int]:
    """Build entries for indexes that are new or whose path changed; drop removed ones.
    Returns {(machine, index): entries written}."""
    async with store.engine.connect() as conn:
        declared = {(r.machine, r.name): r.path for r in await conn.execute(select(index_defs))}
    wanted = {
        (name, index): stored_path(path)
        for name, spec in app.machines.items()
        for index, path in (spec.indexes or {}).items()
    }
    stale = [key for key, path in declared.items() if wanted.get(key) != path]
    fresh = [key for key, path in wanted.items() if declared.get(key) != path]
    if not stale and not fresh:
        return {}
    app_paths = {name: dict(spec.indexes or {}) for name, spec in app.machines.items()}
    return await store._in_writer(_backfill_sync, store, stale, fresh, app_paths)


def _backfill_sync(store: Any, stale: list[tuple[str, str]], fresh: list[tuple[str, str]],
                   app_paths: dict[str, dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Runs on the writer thread, in one transaction."""
    import logging

    log = logging.getLogger("statesync")
    conn = store._writer
    written: dict[tuple[str, str], int] = {}
    started = time.perf_counter()
    with conn.begin():
        for machine, name in stale:
            conn.execute(delete(index_entries).where(
                index_entries.c.machine == machine, index_entries.c.name == name))
            conn.execute(delete(index_defs).where(
                index_defs.c.machine == machine, index_defs.c.name == name))
        by_machine: dict[str, list[str]] = {}
        for machine, name in fresh:
            by_machine.setdefault(machine, []).append(name)
        for machine, names in by_machine.items():
            paths = {n: app_paths[machine][n] for n in names}
            for n in names:  # entries written before the definition was recorded
                conn.execute(delete(index_entries).where(
                    index_entries.c.machine == machine, index_entries.c.name == n))
            after = ""
            while True:
                rows = conn.execute(
                    select(instances.c.name, instances.c.snapshot)
                    .where(instances.c.machine == machine, instances.c.name > after)
                    .order_by(instances.c.name).limit(_BACKFILL_PAGE)
                ).all()
                if not rows:
                    break
                entries = []
                for row in rows:
                    context = from_json(row.snapshot).get("context")
                    for name, keys in instance_keys(paths, context).items():
                        entries.extend({"machine": machine, "name": name, "key": k,
                                        "instance": row.name} for k in keys)
                        written[(machine, name)] = written.get((machine, name), 0) + len(keys)
                if entries:
                    conn.execute(insert(index_entries), entries)
                after = rows[-1].name
            conn.execute(insert(index_defs), [
                {"machine": machine, "name": n, "path": stored_path(p)} for n, p in paths.items()])
            for n in names:
                written.setdefault((machine, n), 0)
    if fresh:
        log.info("back-filled index(es) %s in %.2f s",
                 ", ".join(f"{m}.{n} ({c} entries)" for (m, n), c in written.items()),
                 time.perf_counter() - started)
    return written


# --- queries ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    machine: str
    index: str
    op: str
    value: Any
    order: str = "asc"
    limit: int = 50
    cursor: str | None = None


def _bad(message: str) -> StatesyncError:
    return StatesyncError(ErrorCode.INVALID_MESSAGE, message)


def _next_prefix(text: str) -> str:
    """The smallest string greater than every string starting with `text` (code point order)."""
    for i in range(len(text) - 1, -1, -1):
        code = ord(text[i]) + 1
        if code == 0xD800:
            code = 0xE000
        if code <= 0x10FFFF:
            return text[:i] + chr(code)
    return "\U0010ffff" * (len(text) + 1)  # unreachable in practice


def key_range(op: str, value: Any) -> Any:
    """The WHERE clause on `index_entries.key` for one operator."""
    key = index_entries.c.key
    if isinstance(value, list):  # a composite index: all its values, or the leading ones
        start = composite_key(value)
        if op != "eq" or start is None:
            raise _bad("a composite index answers 'eq' with a list of its values")
        return or_(key == start, and_(key >= start + SEPARATOR, key < start + _AFTER_PREFIX))
    if op == "prefix":
        if not isinstance(value, str):
            raise _bad("prefix takes a string")
        return and_(key >= "s" + value, key < "s" + _next_prefix(value)) if value else and_(
            key >= "s", key < "t")
    encoded = encode_key(value)
    if encoded is None:
        raise _bad("an index value is a string, a number or a boolean")
    low, high = encoded[0], chr(ord(encoded[0]) + 1)  # the range of keys of the same type
    return {
        "eq": lambda: key == encoded,
        "ne": lambda: key != encoded,
        "lt": lambda: and_(key >= low, key < encoded),
        "lte": lambda: and_(key >= low, key <= encoded),
        "gt": lambda: and_(key > encoded, key < high),
        "gte": lambda: and_(key >= encoded, key < high),
    }[op]()


def key_visible(spec: MachineSpec, index: str, key: str, public: Any) -> bool:
    """Whether the index key `key` may accompany a result whose public context (as its
    reader sees it) is `public`: always for a `public=True` index, never for `public=False`,
    else when the public context shows that value at the index's path."""
    declared = spec.index_public.get(index)
    if declared is not None:
        return declared
    return key in index_keys(public, spec.indexes[index]) if spec.indexes else False


def _binding(query: Query, claims: Mapping[str, Any] | None) -> list[Any]:
    """What a cursor is valid for: this caller and this query."""
    subject = None if claims is None else claims.get("sub")
    return [subject, query.machine, query.index, query.op, query.value, query.order]


_SERVER_CURSORS = CursorSealer.from_secret(None)  # for server code's own paging (claims None)


def build_select(query: Query, after: tuple[str, str] | None, limit: int) -> Any:
    """The SELECT for one page (public so tests can EXPLAIN it)."""
    e = index_entries.c
    where = [e.machine == query.machine, e.name == query.index, key_range(query.op, query.value)]
    descending = query.order == "desc"
    if after is not None and query.op == "eq" and not isinstance(query.value, list):  # one key
        where.append(e.instance < after[1] if descending else e.instance > after[1])
    elif after is not None:
        position = tuple_(e.key, e.instance)
        where.append(position < tuple_(*after) if descending else position > tuple_(*after))
    order = (e.key.desc(), e.instance.desc()) if descending else (e.key, e.instance)
    return (
        select(e.key, e.instance, instances.c.version, instances.c.seq, instances.c.snapshot)
        .select_from(index_entries.join(
            instances, and_(instances.c.machine == e.machine, instances.c.name == e.instance)))
        .where(*where)
        .order_by(*order)
        .limit(limit)
    )


def validate(app: Any, query: Query) -> None:
    spec = app.spec(query.machine)
    if query.index not in (spec.indexes or {}):
        raise StatesyncError(ErrorCode.NOT_FOUND,
                             f"machine {query.machine!r} has no index {query.index!r}")
    if query.op not in OPS:
        raise _bad(f"unknown operator {query.op!r}; use one of {', '.join(OPS)}")
    if query.order not in ("asc", "desc"):
        raise _bad("order is 'asc' or 'desc'")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise _bad(f"limit is between 1 and {MAX_LIMIT}")
    path = spec.indexes[query.index]  # type: ignore[index]
    values = query.value if isinstance(query.value, list) else [query.value]
    if any(isinstance(v, str) and "\x00" in v for v in values):  # no stored value has one
        raise _bad("an index value may not contain NUL characters")
    if isinstance(path, str) and isinstance(query.value, list):
        raise _bad(f"index {query.index!r} is over one path: its value is a scalar")
    if not isinstance(path, str) and not (
            query.op == "eq" and isinstance(query.value, list)
            and 1 <= len(query.value) <= len(path) and composite_key(query.value) is not None):
        raise _bad(f"index {query.index!r} is composite ({', '.join(path)}): it answers 'eq' "
                   f"with a list of 1-{len(path)} of its values, leading ones first")
    if spec.index_public.get(query.index) is False and query.op != "eq":
        raise _bad(f"index {query.index!r} is private: it answers only 'eq' queries")


@dataclass(frozen=True, slots=True)
class QueryItem:
    key: Any
    state: Any  # PublicState
    key_shown: bool = True
    """Whether `key` may leave the server with the item (`key_visible`)."""


async def run_query(app: Any, store: Any, claims: Mapping[str, Any] | None, query: Query,
                    cursors: CursorSealer | None = None) -> tuple[list[QueryItem], str | None]:
    """One page of results readable by `claims` (None: no authorization, for server code),
    and the cursor of the next page (None when there is none), sealed by `cursors`.

    The page depends only on rows the caller may read: it scans until it holds `limit` of
    them and knows whether another follows (then the cursor is the last item's position), or
    the range ends (no cursor). A page that examined `SCAN_BUDGET` rows first ends there,
    with what it found and a cursor where it stopped (docs/security.md, "Indexes")."""
    validate(app, query)
    cursors = cursors or _SERVER_CURSORS
    binding = _binding(query, claims)
    after = cursors.open(query.cursor, binding) if query.cursor else None
    items: list[QueryItem] = []
    last_item = after
    examined = 0
    batch = 64  # with an authorizer some rows are filtered out: ask for more, then more
    async with store.engine.connect() as conn:
        while True:
            wanted = query.limit + 1 - len(items)  # + 1: does a readable row follow the page?
            size = min(wanted if claims is None else max(2 * wanted, batch),
                       SCAN_BUDGET - examined)
            batch = min(2 * batch, _MAX_BATCH)
            rows = (await conn.execute(build_select(query, after, size))).all()
            examined += len(rows)
            for row in rows:
                after = (row.key, row.instance)
                item = _readable_item(app, claims, query, row)
                if item is None:
                    continue
                if len(items) == query.limit:  # a readable row follows the page
                    return items, cursors.seal(binding, last_item)
                items.append(item)
                last_item = after
            if len(rows) < size:  # the range ends
                return items, None
            if examined >= SCAN_BUDGET:
                position = last_item if len(items) == query.limit else after
                return items, cursors.seal(binding, position)


def _readable_item(app: Any, claims: Mapping[str, Any] | None, query: Query,
                   row: Any) -> QueryItem | None:
    """The result item of one scanned row, or None when `claims` may not read it."""
    from ..protocol import PublicState

    spec = app.version_spec(query.machine, row.version)
    snapshot = spec.machine.restore(from_json(row.snapshot))
    reader = privacy.NO_READER if claims is None else claims
    if claims is not None and not privacy.may_read(spec, reader, row.instance, snapshot):
        return None
    public = privacy.public_context(spec, snapshot.context, reader)
    status = snapshot.status
    state = PublicState(
        machine=query.machine, instance=row.instance, seq=row.seq, value=snapshot.value,
        tags=sorted(snapshot.tags), context=public, status=status, done=status == "done",
    )
    shown = claims is None or key_visible(spec, query.index, row.key, public)
    return QueryItem(decode_key(row.key, isinstance(query.value, list)), state, shown)
