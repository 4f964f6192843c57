"""Live queries: index queries whose result set is kept up to date (`watch`, docs/protocol.md).

A watch is a query (machine, index, operator, value, order) held by a connection. After every
commit of an instance of a watched machine, `LiveQueries.committed` decides for each watch on
that machine whether the instance was in its set before the commit and is after it: one of its
index keys is in the query's range (the ranges of `indexes.key_range`, compared in Python:
code-point order) and the watcher may read it (`privacy.may_read`): the set `run_query`
answers. The watcher is then told `enter`, `leave` or `update`, with the item projected for it
exactly like a query result (`privacy.public_context`; the `key` only where
`indexes.key_visible` allows). An instance the watcher could read neither before nor after is
never mentioned. A commit of a machine nobody watches costs the engine one dict lookup; `eq`
watches are found by their value, so those of other values (other restaurants) cost nothing.
A watch whose token expired ends (`unauthenticated`) at the first commit that concerns it.

While the first page is read, changes are held; the page is sent first, then the held changes
it does not already show (by seq).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import privacy
from ..app import MachineSpec
from ..errors import ErrorCode, StatesyncError
from .indexes import (
    SEPARATOR,
    Query,
    composite_key,
    decode_key,
    encode_key,
    index_keys,
    key_visible,
    validate,
)
from ..protocol import Error, QueryChange

log = logging.getLogger("statesync")

MAX_PER_CONNECTION = 100
"""Watches one connection may hold at once."""
MAX_HELD = 10_000
"""Changes held while a watch's first page is read; beyond, the watch ends (`rate-limited`)."""


class Watcher(Protocol):
    """The connection holding watches (a WebSocket connection)."""

    claims: Mapping[str, Any]
    closed: bool

    def deliver(self, text: str) -> None:
        """Queue an already serialized server message; must not block."""


@dataclass(eq=False, slots=True)
class Watch:
    id: str | int
    owner: Watcher
    query: Query
    matches: Callable[[str], bool]
    key: str | None
    """The encoded value of an `eq` watch (its bucket), None for the other operators."""
    held: list[tuple[str, str, int, str]] | None = field(default_factory=list)
    """(instance, change, seq, message) while the first page is read; None once it is sent."""


def key_predicate(op: str, value: Any) -> Callable[[str], bool]:
    """Whether an index key lies in the range `indexes.key_range(op, value)` selects."""
    if isinstance(value, list):  # a composite index (validated: `eq`): all values or leading
        start = composite_key(value) or ""
        return lambda key: key == start or key.startswith(start + SEPARATOR)
    if op == "prefix":
        if not isinstance(value, str):
            raise StatesyncError(ErrorCode.INVALID_MESSAGE, "prefix takes a string")
        start = "s" + value
        return lambda key: key.startswith(start)
    encoded = encode_key(value)
    if encoded is None:
        raise StatesyncError(ErrorCode.INVALID_MESSAGE,
                             "an index value is a string, a number or a boolean")
    low, high = encoded[0], chr(ord(encoded[0]) + 1)  # the keys of the same type
    return {
        "eq": lambda key: key == encoded,
        "ne": lambda key: key != encoded,
        "lt": lambda key: low <= key < encoded,
        "lte": lambda key: low <= key <= encoded,
        "gt": lambda key: encoded < key < high,
        "gte": lambda key: encoded <= key < high,
    }[op]


class LiveQueries:
    """Every watch of the server, indexed by machine and index."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.watched: dict[str, dict[str, dict[str | None, list[Watch]]]] = {}
        """Machine -> index -> `eq` key (None: other operators) -> watches; a machine is here
        only while it has watches."""
        self._owned: dict[Watcher, dict[str | int, Watch]] = {}

    # --- watches ----------------------------------------------------------------------------

    def add(self, owner: Watcher, watch_id: str | int, query: Query) -> Watch:
        """Register a watch (holding its changes until `start`); raises if it is refused."""
        validate(self.app, query)
        matches = key_predicate(query.op, query.value)
        owned = self._owned.get(owner, {})
        if watch_id in owned:
            raise StatesyncError(ErrorCode.INVALID_MESSAGE, f"watch {watch_id!r} is already active")
        if len(owned) >= MAX_PER_CONNECTION:
            raise StatesyncError(ErrorCode.RATE_LIMITED,
                                 f"at most {MAX_PER_CONNECTION} watches per connection")
        key = encode_key(query.value) if query.op == "eq" else None
        watch = Watch(watch_id, owner, query, matches, key)
        self._owned.setdefault(owner, {})[watch_id] = watch
        by_key = self.watched.setdefault(query.machine, {}).setdefault(query.index, {})
        by_key.setdefault(key, []).append(watch)
        return watch

    def start(self, watch: Watch, results: str, seqs: Mapping[str, int]) -> None:
        """Send the first page (`results`, showing each instance at `seqs`), then the changes
        held meanwhile that are newer than what it shows."""
        if self._owned.get(watch.owner, {}).get(watch.id) is not watch:
            return  # unwatched (or ended) meanwhile
        held, watch.held = watch.held or [], None
        watch.owner.deliver(results)
        for instance, change, seq, text in held:
            shown = seqs.get(instance)
            if shown is None or (seq >= shown if change == "leave" else seq > shown):
                watch.owner.deliver(text)

    def remove(self, owner: Watcher, watch_id: str | int) -> None:
        watch = self._owned.get(owner, {}).get(watch_id)
        if watch is not None:
            self._unlink(watch)

    def drop(self, owner: Watcher) -> None:
        """Forget every watch of a closed connection."""
        for watch in list(self._owned.get(owner, {}).values()):
            self._unlink(watch)

    def _unlink(self, watch: Watch) -> None:
        owned = self._owned.get(watch.owner)
        if owned is not None and owned.get(watch.id) is watch:
            del owned[watch.id]
            if not owned:
                del self._owned[watch.owner]
        machine, index = watch.query.machine, watch.query.index
        by_index = self.watched.get(machine, {})
        by_key = by_index.get(index, {})
        watches = by_key.get(watch.key, [])
        if watch in watches:
            watches.remove(watch)
            if not watches:
                del by_key[watch.key]
                if not by_key:
                    del by_index[index]
                    if not by_index:
                        del self.watched[machine]

    def _end(self, watch: Watch, code: ErrorCode, message: str) -> None:
        """End a watch from the server's side: an `error` carrying the watch's id."""
        self._unlink(watch)
        watch.owner.deliver(Error(id=watch.id, code=code, message=message,
                                  machine=watch.query.machine).model_dump_json())

    # --- commits ----------------------------------------------------------------------------

    def committed(self, machine: str, instance: str, old: Any, new: Any) -> None:
        """Tell the watchers of `machine` what a commit changed in their sets. `old` and `new`
        are the committed states before and after (version, snapshot, seq; `old` None on a
        creation)."""
        try:
            self._evaluate(machine, instance, old, new)
        except Exception:  # never disturbs the commit path
            log.exception("live queries failed for %s/%s", machine, instance)

    def _evaluate(self, machine: str, instance: str, old: Any, new: Any) -> None:
        paths = self.app.machines[machine].indexes or {}
        old_spec = self.app.version_spec(machine, old.version) if old is not None else None
        new_spec = self.app.version_spec(machine, new.version)
        old_item = _Item(old_spec, machine, instance, old) if old is not None else None
        new_item = _Item(new_spec, machine, instance, new)
        now = time.time()
        for index, by_key in list(self.watched.get(machine, {}).items()):
            path = paths.get(index)
            if path is None:
                continue
            old_keys = index_keys(old.snapshot.context, path) if old is not None else []
            new_keys = index_keys(new.snapshot.context, path)
            watches = [w for k in (None, *{*old_keys, *new_keys}) for w in by_key.get(k, ())]
            for watch in watches:
                owner = watch.owner
                if owner.closed:
                    self._unlink(watch)
                    continue
                claims = owner.claims
                if _expired(claims, now):
                    self._end(watch, ErrorCode.UNAUTHENTICATED, "token expired; watch again")
                    continue
                try:
                    was = old_item is not None and _member(watch, old_item, old_keys, claims)
                    key = _member(watch, new_item, new_keys, claims)
                    shown = new_item.build(index, key, claims) if key is not None else None
                except Exception:  # a projection bug: this watcher gets nothing more
                    log.exception("public_context failed for %s/%s", machine, instance)
                    self._end(watch, ErrorCode.INTERNAL, "cannot project this item")
                    continue
                if shown is not None:
                    self._tell(watch, "update" if was else "enter", instance, new.seq, shown)
                elif was:
                    self._tell(watch, "leave", instance, old.seq, None)

    def _tell(self, watch: Watch, change: str, instance: str, seq: int,
              item: dict[str, Any] | None) -> None:
        query = watch.query
        text = QueryChange.model_construct(
            id=watch.id, machine=query.machine, index=query.index, change=change,
            instance=instance, seq=seq, item=item).model_dump_json(exclude_none=True)
        if watch.held is None:
            watch.owner.deliver(text)
            return
        watch.held.append((instance, change, seq, text))
        if len(watch.held) > MAX_HELD:
            self._end(watch, ErrorCode.RATE_LIMITED, "too many changes while loading; watch again")


def _member(watch: Watch, item: _Item, keys: list[str], reader: Mapping[str, Any]) -> str | None:
    """The key by which `item` is in the watch's set for `reader` (the first of its matching
    keys in the query's order), or None: as `run_query`, only instances it may read."""
    matching = [k for k in keys if watch.matches(k)]
    if not matching or not privacy.may_read(item.spec, reader, item.instance, item.state.snapshot):
        return None
    return matching[-1] if watch.query.order == "desc" else matching[0]


class _Item:
    """One committed state as each watcher sees it (a reader-independent public context is
    computed once per commit)."""

    def __init__(self, spec: MachineSpec, machine: str, instance: str, state: Any) -> None:
        self.spec, self.machine, self.instance, self.state = spec, machine, instance, state
        self._shared: Any = _UNSET

    def public(self, reader: Mapping[str, Any]) -> Any:
        context = self.state.snapshot.context
        if self.spec.context_takes_reader:
            return privacy.public_context(self.spec, context, reader)
        if self._shared is _UNSET:
            self._shared = privacy.public_context(self.spec, context)
        return self._shared

    def build(self, index: str, key: str, reader: Mapping[str, Any]) -> dict[str, Any]:
        """The `results`-shaped item: the public state, with `key` where it may be shown."""
        snapshot = self.state.snapshot
        public = self.public(reader)
        status = snapshot.status
        item = {"machine": self.machine, "instance": self.instance, "seq": self.state.seq,
                "value": snapshot.value, "tags": sorted(snapshot.tags), "context": public,
                "status": status, "done": status == "done"}
        if key_visible(self.spec, index, key, public):
            composite = not isinstance((self.spec.indexes or {}).get(index, ""), str)
            return {"key": decode_key(key, composite), **item}
        return item


_UNSET = object()


def _expired(claims: Mapping[str, Any], now: float) -> bool:
    exp = claims.get("exp", now)
    return isinstance(exp, bool) or not isinstance(exp, int | float) or exp < now
