"""Index queries and live queries: `client.query(...)` pages, `client.watch(...)` handles."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .errors import ClientError, TransportClosed
from .state import State

log = logging.getLogger("statesync.client")


class QueryOwner(Protocol):
    """What a live query uses of the `Client` that made it (passed in, never imported: the
    client imports this module)."""

    _sending: bool
    _ids: Iterator[int]
    _watches: dict[int, LiveQuery]

    async def _request(self, message: dict[str, Any]) -> dict[str, Any]: ...

    def _drop(self) -> None: ...

    def _forget_query(self, live: LiveQuery) -> None: ...


@dataclass(frozen=True, slots=True)
class Item:
    """One instance in query results: its public state and, when the reader may see it, the
    index value it matched (`key`; None when hidden)."""

    machine: str
    instance: str
    state: State
    key: Any = None

    @classmethod
    def from_server(cls, item: dict[str, Any]) -> Item:
        return cls(item["machine"], item["instance"], State.from_server(item), item.get("key"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (for JavaScript callers and logs)."""
        return {"machine": self.machine, "instance": self.instance, "key": self.key,
                **self.state.to_dict()}


@dataclass(frozen=True, slots=True)
class Page:
    """One page of `client.query`: `cursor` asks for the next one (None: no more)."""

    items: list[Item]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """What changed in a live query: `instance` entered its set, left it (`item` None) or
    changed in it."""

    kind: Literal["enter", "leave", "update"]
    instance: str
    item: Item | None


ChangeListener = Callable[[Change], Any]
EndListener = Callable[["ClientError | None"], Any]


@dataclass(slots=True)
class _Loading:
    """A (re)load in progress: the items so far, and the last seq each instance left at (so
    that a page read before it left does not bring it back)."""

    items: dict[str, Item] = field(default_factory=dict)
    gone: dict[str, int] = field(default_factory=dict)


class LiveQuery:
    """The instances matching an index query, kept up to date by the server (`watch`).

    `items` lists them in index order (ties by instance name; items whose `key` the reader
    may not see come after, by name), this client's pending changes included: an instance
    whose handle is open here is placed by its visible (optimistic) state, until the server
    has said as much (the index's path comes with the watch; an index whose values are never
    shown, or a value the public context does not hold, is left to the server). `subscribe(fn)`
    calls `fn(change)` on every change, and
    `async for change in live` yields them. After a reconnect the query is watched again and
    listeners hear what changed meanwhile. It ends when closed (by `close()` or the client's)
    or when the server refuses to watch it again or ends it: `await live.ended` gives the
    reason (also in `error`), `on_end(fn)` calls `fn(reason)`, and async iteration stops.
    """

    def __init__(self, client: QueryOwner, machine: str, index: str, op: str, value: Any,
                 order: str, limit: int) -> None:
        self.client = client
        self.machine, self.index, self.op, self.value = machine, index, op, value
        self.order, self.limit = order, limit
        self.closed = False
        self.error: ClientError | None = None
        self._items: dict[str, Item] = {}  # as the server said
        self._visible: dict[str, Item] = {}  # with this client's pending changes
        self._left: dict[str, int] = {}  # instance -> the seq after which it left
        self._path: str | None = None  # the index's path into the context (from the watch)
        self._sorted: list[Item] | None = None
        self._loading: _Loading | None = None
        self._watch_id: int | None = None
        self._generation = 0
        self._listeners: list[ChangeListener] = []
        self._end_listeners: list[EndListener] = []
        self._ended: asyncio.Future[ClientError | None] = (
            asyncio.get_running_loop().create_future())
        self._ready = asyncio.Event()

    def __repr__(self) -> str:
        return f"<LiveQuery {self.machine}.{self.index} {self.op} {self.value!r}: {self.names}>"

    # --- reading ----------------------------------------------------------------------------

    @property
    def items(self) -> list[Item]:
        """The matching instances, in index order."""
        if self._sorted is None:
            shown = [i for i in self._visible.values() if i.key is not None]
            hidden = [i for i in self._visible.values() if i.key is None]
            descending = self.order == "desc"
            shown.sort(key=lambda i: (_rank(i.key), i.key, i.instance), reverse=descending)
            hidden.sort(key=lambda i: i.instance, reverse=descending)
            self._sorted = shown + hidden
        return list(self._sorted)

    @property
    def names(self) -> list[str]:
        return [i.instance for i in self.items]

    def get(self, instance: str) -> Item | None:
        return self._visible.get(instance)

    def __len__(self) -> int:
        return len(self._visible)

    def __contains__(self, instance: object) -> bool:
        return instance in self._visible

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    # --- listening --------------------------------------------------------------------------

    def subscribe(self, callback: ChangeListener) -> Callable[[], None]:
        """Call `callback(change)` on every change; returns `unsubscribe`."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def on_end(self, callback: EndListener) -> Callable[[], None]:
        """Call `callback(reason)` once the query has ended (at once if it has): the server's
        `ClientError` when it refused or ended the watch, None when it was closed. Returns
        `unsubscribe`."""
        if self.closed:
            callback(self.error)
            return lambda: None
        self._end_listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._end_listeners:
                self._end_listeners.remove(callback)

        return unsubscribe

    @property
    def ended(self) -> asyncio.Future[ClientError | None]:
        """Done once the query stopped changing, with the reason (`on_end`'s); cancelling an
        awaiter does not cancel it."""
        return asyncio.shield(self._ended)

    def __aiter__(self) -> AsyncIterator[Change]:
        """Every change from now on, until the query ends (then the iteration stops: see
        `error` for why)."""
        return self._changes()

    async def _changes(self) -> AsyncIterator[Change]:
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        unsubscribe = self.subscribe(queue.put_nowait)
        off = self.on_end(lambda _reason: queue.put_nowait(None))
        try:
            while (change := await queue.get()) is not None:
                yield change
        finally:
            unsubscribe()
            off()

    async def wait_for(self, condition: Callable[[LiveQuery], bool],
                       timeout: float | None = None) -> LiveQuery:
        """Return once `condition(self)` holds (checked now and after every change);
        `TimeoutError` after `timeout` seconds."""
        if condition(self):
            return self
        found: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def check(_change: Change) -> None:
            if not found.done() and condition(self):
                found.set_result(None)

        unsubscribe = self.subscribe(check)
        try:
            await asyncio.wait_for(found, timeout)
            return self
        finally:
            unsubscribe()

    async def close(self) -> None:
        """Stop watching."""
        if self.closed:
            return
        watch_id = self._watch_id
        self._end(None)
        if watch_id is not None and self.client._sending:
            with contextlib.suppress(ClientError, TransportClosed, TimeoutError):
                await self.client._request({"type": "unwatch", "id": watch_id})

    # --- called by the client ---------------------------------------------------------------

    async def _load(self) -> None:
        """Watch on the current connection: the first page, then the others; then tell the
        listeners how the items differ from those shown until now."""
        self._generation += 1
        generation, client = self._generation, self.client
        client._watches.pop(self._watch_id, None)  # type: ignore[arg-type]
        self._watch_id = watch_id = next(client._ids)
        client._watches[watch_id] = self
        loading = self._loading = _Loading()
        query = {"machine": self.machine, "index": self.index, "op": self.op,
                 "value": self.value, "order": self.order, "limit": self.limit}
        try:
            page = await client._request({"type": "watch", **query, "id": watch_id})
            self._path = page.get("path")
            while generation == self._generation:
                for raw in page["items"]:
                    _put(loading.items, loading.gone, Item.from_server(raw))
                if page["cursor"] is None:
                    break
                page = await client._request({"type": "query", **query, "cursor": page["cursor"]})
        except ClientError as exc:
            if generation == self._generation:
                self._end(exc)
            return
        except TimeoutError:  # start over on a fresh connection
            client._drop()
            return
        except TransportClosed:  # the next connection loads it again
            return
        if generation != self._generation or self.closed:
            return
        self._items, self._loading, self._left = loading.items, None, dict(loading.gone)
        before, self._visible, self._sorted = self._visible, self._placed(), None
        self._ready.set()
        self._notify(_diff(before, self._visible))

    def _change(self, message: dict[str, Any]) -> None:
        """A `query-change` from the server."""
        if message["id"] != self._watch_id or self.closed:
            return
        loading = self._loading
        items, gone = (loading.items, loading.gone) if loading is not None else (self._items, None)
        instance, kind = message["instance"], message["change"]
        if kind == "leave":
            applied = _remove(items, gone, instance, message["seq"])
            if loading is None:
                self._left[instance] = max(self._left.get(instance, -1), message["seq"])
        else:
            applied = _put(items, gone, Item.from_server(message["item"]))
        if applied and loading is None:
            self._reconsider(instance)

    def _reconsider(self, instance: str) -> None:
        """The server's item or this client's handle of `instance` changed: show where it is
        now, telling the listeners if that differs from what they saw."""
        if self.closed or self._loading is not None:
            return
        before, after = self._visible.get(instance), self._place(instance)
        if after == before:
            return
        if after is None:
            del self._visible[instance]
        else:
            self._visible[instance] = after
        self._sorted = None
        kind = "leave" if after is None else "enter" if before is None else "update"
        self._notify([Change(kind, instance, after)])

    def _placed(self) -> dict[str, Item]:
        """Every visible item: the server's, and this client's open handles placed."""
        names = set(self._items) | {name for machine, name in self.client._instances
                                    if machine == self.machine}
        placed = {name: self._place(name) for name in names}
        return {name: item for name, item in placed.items() if item is not None}

    def _place(self, instance: str) -> Item | None:
        """The item of `instance` as this client shows it: placed by its handle's visible
        state while that holds pending events or is newer than what the server said of it
        here, else the server's."""
        server = self._items.get(instance)
        handle = self.client._instances.get((self.machine, instance))
        state = handle._reconciler.visible if handle is not None and not handle.closed else None
        if state is None or self._path is None:
            return server
        if not handle._reconciler.pending:  # type: ignore[union-attr]
            known = server.state.seq if server is not None else self._left.get(instance, -1)
            if known >= state.seq:
                return server
        found, key = _lookup(state.context, self._path)
        if not found or isinstance(key, list):
            return server  # not in the public context, or one entry per element: the server's
        if not _matches(self.op, key, self.value):
            return None
        return Item(self.machine, instance, state, key)

    def _end(self, error: ClientError | None) -> None:
        """Finished (once): closed by the user or the client, or refused or ended by the
        server (`error`)."""
        if self.closed:
            return
        self.closed = True
        self.error = error
        self.client._forget_query(self)
        self._ready.set()
        self._ended.set_result(error)
        listeners, self._end_listeners = self._end_listeners, []
        for listener in listeners:
            try:
                listener(error)
            except Exception:
                log.exception("an end listener of live query %s.%s raised", self.machine,
                              self.index)

    def _notify(self, changes: list[Change]) -> None:
        for change in changes:
            for listener in list(self._listeners):
                try:
                    listener(change)
                except Exception:
                    log.exception("a listener of live query %s.%s raised", self.machine, self.index)


def _lookup(context: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a dotted path (as the server's index `lookup`); a missing key below
    an object is found, as None (no index entry), a non-object on the way is not found."""
    node = context
    for part in path.split("."):
        if not isinstance(node, dict):
            return False, None
        node = node.get(part)
    return True, node


def _matches(op: str, key: Any, value: Any) -> bool:
    """Whether an index value `key` is in the range of a query (`op`, `value`), as the server
    compares them: ranges within one type (booleans, numbers, strings), `ne` across types."""
    if key is None or (isinstance(key, float) and key != key):  # no entry (None, NaN)
        return False
    if not isinstance(key, bool | int | float | str):
        return False
    if op == "prefix":
        return isinstance(key, str) and isinstance(value, str) and key.startswith(value)
    same = _rank(key) == _rank(value)
    if op == "eq":
        return same and key == value
    if op == "ne":
        return not (same and key == value)
    if not same:
        return False
    return {"lt": key < value, "lte": key <= value, "gt": key > value,
            "gte": key >= value}.get(op, False)


def _put(items: dict[str, Item], gone: dict[str, int] | None, item: Item) -> bool:
    """Keep `item` unless what is known of its instance is as new or newer."""
    current = items.get(item.instance)
    seq = item.state.seq
    if current is not None and current.state.seq >= seq:
        return False
    if gone is not None and gone.get(item.instance, -1) >= seq:
        return False
    items[item.instance] = item
    return True


def _remove(items: dict[str, Item], gone: dict[str, int] | None, instance: str, seq: int) -> bool:
    """An instance left the set after its state `seq` (kept if already seen newer)."""
    if gone is not None:
        gone[instance] = max(gone.get(instance, -1), seq)
    current = items.get(instance)
    if current is None or current.state.seq > seq:
        return False
    del items[instance]
    return True


def _diff(before: dict[str, Item], after: dict[str, Item]) -> list[Change]:
    changes = [Change("leave", name, None) for name in before if name not in after]
    for name, item in after.items():
        old = before.get(name)
        if old is None:
            changes.append(Change("enter", name, item))
        elif old != item:
            changes.append(Change("update", name, item))
    return changes


def _rank(key: Any) -> int:
    """The server's order of index value types: booleans, numbers, strings."""
    return 0 if isinstance(key, bool) else 1 if isinstance(key, int | float) else 2
