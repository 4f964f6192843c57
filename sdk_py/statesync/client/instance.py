"""`Instance`: a live handle on one server instance (state, send, subscribe)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from .errors import ClientClosed, ClientError, Rejected
from .reconcile import Reconciler, accepted_events
from .state import State

log = logging.getLogger("statesync.client")


class InstanceOwner(Protocol):
    """What a handle uses of the `Client` that made it (passed in, never imported: the client
    imports this module)."""

    def _transmit(self, handle: Instance, event_id: str, event: dict[str, Any]) -> None: ...

    async def _close_instance(self, handle: Instance) -> None: ...

    def _changed(self) -> None: ...

Listener = Callable[[State], Any]
EventListener = Callable[[dict[str, Any]], Any]


class Instance:
    """One instance of a machine on the server, kept in sync over the client's connection.

    With the machine definition known to the client, `send()` shows its effect at once
    (optimistic) and the server's answer reconciles it; otherwise the state changes when the
    server's update arrives.
    """

    def __init__(self, client: InstanceOwner, machine: str, name: str,
                 reconciler: Reconciler) -> None:
        self.client = client
        self.machine = machine
        self.name = name
        self._reconciler = reconciler
        self._listeners: list[Listener] = []
        self._event_listeners: dict[str, list[EventListener]] = {}
        self._queues: list[asyncio.Queue[State | None]] = []
        self._futures: dict[str, asyncio.Future[int]] = {}
        self._acked: dict[str, int] = {}  # event id -> seq: committed, its update not here yet
        self._ready = asyncio.Event()
        self.closed = False
        self.error: ClientError | None = None

    def __repr__(self) -> str:
        return f"<Instance {self.machine}/{self.name} {self.state!r}>"

    # --- reading ----------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The visible state (the confirmed server state with pending events on top)."""
        visible = self._reconciler.visible
        if visible is None:
            raise ClientError("not-found", f"{self.machine}/{self.name} has no state yet")
        return visible

    @property
    def confirmed(self) -> State | None:
        """The last state the server confirmed."""
        return self._reconciler.confirmed

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Events sent and not yet confirmed by an update, oldest first."""
        return [p.event for p in self._reconciler.pending.values()]

    def matches(self, value: Any) -> bool:
        return self.state.matches(value)

    def has_tag(self, tag: str) -> bool:
        return self.state.has_tag(tag)

    @property
    def accepted_events(self) -> list[str] | None:
        """The event descriptors (types, `*` / `prefix.*` wildcards) the machine accepts in
        the visible state, judged from the type alone (`reconcile.accepted_events`); None when
        the machine does not run locally."""
        snapshot = self._reconciler.snapshot()
        return None if snapshot is None else accepted_events(snapshot, self._reconciler.sender())

    # --- writing ----------------------------------------------------------------------------

    def send(self, event: dict[str, Any] | str, **payload: Any) -> asyncio.Future[int]:
        """Send an event; its effect shows at once when the machine is known locally.

        Returns a future resolving to the event's seq once the server committed it and this
        handle shows that commit (`state.seq` is at least that seq: read your writes), or
        raising `Rejected` (with the server's `code`) after the change was rolled back.
        """
        event = {"type": event, **payload} if isinstance(event, str) else dict(event)
        return self.send_with_id(uuid.uuid4().hex, event)

    def send_with_id(self, event_id: str, event: dict[str, Any]) -> asyncio.Future[int]:
        """`send(event)` under the caller's event id (e.g. one a page saved before a reload:
        the server applies each id once and answers a repeat with the first seq). An id this
        handle still holds pending is that event: its future is returned, nothing is sent."""
        if self.closed:
            raise ClientClosed(f"{self.machine}/{self.name} is closed")
        if event_id in self._futures:
            return self._futures[event_id]
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise TypeError(f'an event must be a dict with a string "type", got {event!r}')
        json.dumps(event)  # not JSON-safe: TypeError now, before anything changes
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._futures[event_id] = future
        self._reconciler.add(event_id, event)
        self.client._transmit(self, event_id, event)
        self._notify()
        return future

    # --- listening --------------------------------------------------------------------------

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(state)` on every change of the visible state; returns `unsubscribe`."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def on(self, event_type: str, listener: EventListener) -> Callable[[], None]:
        """Call `listener(event)` for every event the instance emits (`emit(...)` in the
        machine) of `event_type` (`"*"`: all), as the server delivers it: after the update of
        its transition, with the fields this reader may see. Returns `off`.

        Emitted events are not state: nothing is kept, and one emitted while this client was
        disconnected is not delivered later. Optimistic (local) transitions emit nothing; only
        the server's events are delivered."""
        listeners = self._event_listeners.setdefault(event_type, [])
        listeners.append(listener)

        def off() -> None:
            if listener in listeners:
                listeners.remove(listener)

        return off

    async def wait_for(self, condition: Callable[[State], bool],
                       timeout: float | None = None) -> State:
        """The first visible state (the current one included) satisfying `condition`;
        `TimeoutError` after `timeout` seconds."""
        if condition(self.state):
            return self.state
        found: asyncio.Future[State] = asyncio.get_running_loop().create_future()

        def check(state: State) -> None:
            if not found.done() and condition(state):
                found.set_result(state)

        unsubscribe = self.subscribe(check)
        try:
            return await asyncio.wait_for(found, timeout)
        finally:
            unsubscribe()

    async def __aiter__(self) -> AsyncIterator[State]:
        """Every visible state from now on, until the handle is closed."""
        if self.closed:
            return
        queue: asyncio.Queue[State | None] = asyncio.Queue()
        unsubscribe = self.subscribe(queue.put_nowait)
        self._queues.append(queue)
        try:
            while (state := await queue.get()) is not None:
                yield state
        finally:
            unsubscribe()
            self._queues.remove(queue)

    async def close(self) -> None:
        """Stop syncing this instance; unconfirmed sends fail with `ClientClosed`."""
        if not self.closed:
            await self.client._close_instance(self)

    # --- called by the client ---------------------------------------------------------------

    def _confirm(self, message: dict[str, Any]) -> None:
        if self._reconciler.confirm(State.from_server(message)):
            self._ready.set()
            self._notify()
            shown = [event_id for event_id in self._acked
                     if event_id not in self._reconciler.pending]
            for event_id in shown:
                self._resolve(event_id, self._acked.pop(event_id))

    def _ack(self, event_id: str, seq: int) -> None:
        """The server committed the event as `seq`: its send resolves once the handle shows
        that commit (the update follows the ack), so the caller reads its own write."""
        before = len(self._reconciler.pending)
        self._reconciler.ack(event_id, seq)
        if event_id in self._reconciler.pending:
            self._acked[event_id] = seq
            return
        self._resolve(event_id, seq)  # its update came first (replayed after a reconnect)
        if len(self._reconciler.pending) != before:
            self._notify()

    def _resolve(self, event_id: str, seq: int) -> None:
        future = self._futures.pop(event_id, None)
        if future is not None and not future.done():
            future.set_result(seq)

    def _reject(self, event_id: str, code: str, message: str,
                fields: list[dict[str, Any]] | None = None) -> None:
        pending = self._reconciler.reject(event_id)
        future = self._futures.pop(event_id, None)
        if pending is None:
            return
        self._notify()
        if future is not None and not future.done():
            future.set_exception(Rejected(code, message, pending.event, event_id, fields))

    def _emitted(self, event: dict[str, Any]) -> None:
        for key in (event.get("type"), "*"):
            for listener in list(self._event_listeners.get(key, ())):  # type: ignore[arg-type]
                try:
                    listener(event)
                except Exception:
                    log.exception("an event listener of %s/%s raised", self.machine, self.name)

    def _end(self, error: BaseException) -> None:
        """The handle is finished: resolve what was committed, fail the rest, end
        iterations."""
        self.closed = True
        for event_id, seq in self._acked.items():
            self._resolve(event_id, seq)
        self._acked.clear()
        for future in self._futures.values():
            if not future.done():
                future.set_exception(error)
        self._futures.clear()
        self._ready.set()
        for queue in self._queues:
            queue.put_nowait(None)

    def _notify(self) -> None:
        state = self._reconciler.visible
        if state is None:
            return
        self.client._changed()
        self.client._placed(self)
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                log.exception("a subscriber of %s/%s raised", self.machine, self.name)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a failed send as seen: fire-and-forget senders get no 'never retrieved' noise."""
    if not future.cancelled():
        future.exception()
