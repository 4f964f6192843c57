"""Glue between statesync.js and `statesync.client` inside Pyodide (imported as
`statesync_bridge`). Data crosses as JSON text; failures come back as `Outcome`s carrying the
server's error code, so JavaScript never parses Python tracebacks."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from statesync import Machine, StatesyncError, assign
from statesync.client import (
    AnonymousSession,
    Change,
    Client,
    ClientClosed,
    ClientError,
    Instance,
    LiveQuery,
    State,
)


@dataclass(frozen=True)
class Outcome:
    """The result of an asynchronous call: `value`, or an `error` code and `message` (and
    `fields_json`, the invalid fields of a validation error, as JSON)."""

    value: Any = None
    code: str | None = None
    message: str = ""
    fields_json: str | None = None


def _failure(exc: BaseException) -> Outcome:
    if isinstance(exc, ClientError):
        fields = json.dumps(exc.fields) if exc.fields is not None else None
        return Outcome(code=exc.code, message=exc.message, fields_json=fields)
    if isinstance(exc, ClientClosed):
        return Outcome(code="closed", message=str(exc))
    return Outcome(code="unavailable", message=str(exc))


async def _outcome(awaitable: Awaitable[Any]) -> Outcome:
    try:
        return Outcome(await awaitable)
    except (StatesyncError, ConnectionError, TimeoutError) as exc:
        return _failure(exc)


def load_machines(locations_json: str) -> dict[str, Machine]:
    """`{"name": "module:attribute"}` -> `{"name": Machine}` (the modules are importable)."""
    machines = {}
    for name, location in json.loads(locations_json).items():
        module, _, attr = location.partition(":")
        machines[name] = getattr(importlib.import_module(module), attr)
    return machines


def _token_source(token: str | None, get_token: Any, session_json: str | None,
                  save_session: Callable[[str], Any], url: str) -> Any:
    if token:
        return token
    if get_token is not None:
        async def ask() -> str:
            result = get_token()
            return str(await result if inspect.isawaitable(result) else result)

        return ask
    saved = json.loads(session_json)["token"] if session_json else None
    return AnonymousSession(url, token=saved, on_token=lambda s: save_session(json.dumps(s)))


def make_client(url: str, token: str | None, get_token: Any, session_json: str | None,
                save_session: Callable[[str], Any], machines_json: str) -> Client:
    """A `Client`, not connected yet (token, token function, or an anonymous session kept by
    JS)."""
    return Client(url, token=_token_source(token, get_token, session_json, save_session, url),
                  machines=load_machines(machines_json))


async def connect(client: Client, timeout: float) -> Outcome:
    """Wait until `client` is live; on failure close it and give the reason (e.g.
    unauthenticated)."""
    outcome = await _outcome(client.connect(timeout))
    if outcome.code is None:
        return Outcome()
    await client.close()
    if isinstance(client.last_error, ClientError):
        return _failure(client.last_error)
    return outcome


async def instance(client: Client, machine: str, name: str, create_json: str | None) -> Outcome:
    create = json.loads(create_json) if create_json is not None else None
    return await _outcome(client.instance(machine, name, create))


def view_json(handle: Instance) -> str:
    """What a page's `Instance` shows, as one JSON text (one call, one string across):
    `{state, pending, events, status}`, `events` being the event descriptors the machine
    accepts now (`Instance.accepted_events`; null when it does not run here) and `status` the
    client's (`status_json`)."""
    return json.dumps({"state": handle.state.to_dict(), "pending": handle.pending,
                       "events": handle.accepted_events,
                       "status": handle.client.status_info()})


class _Muted:
    """Set inside `send`: the changes it makes are not told to JavaScript one by one (a call
    into JavaScript costs more than the transition; the worker reads the result once `send`
    returned)."""

    on = False


def subscribe(handle: Instance, callback: Callable[[], Any]) -> Callable[[], None]:
    """Call `callback()` on every change but those of `send` (the caller reads `view_json`
    if it needs the state: nothing is converted for a change nobody reads); returns
    `unsubscribe`."""

    def notify(_state: State) -> None:
        if not _Muted.on:
            callback()

    return handle.subscribe(notify)


def on_emitted(handle: Instance, callback: Callable[[str], Any]) -> Callable[[], None]:
    """Call `callback(event_json)` for every event the instance emits (the server's
    `emitted` messages, every type); returns `off`."""
    return handle.on("*", lambda event: callback(json.dumps(event)))


def on_status(client: Client, callback: Callable[[], Any]) -> Callable[[], None]:
    """Call `callback()` whenever the status changes but in `send` (read it with
    `status_json`)."""

    def notify(_info: Any) -> None:
        if not _Muted.on:
            callback()

    return client.on_status(notify)


def status_json(client: Client) -> str:
    return json.dumps(client.status_info())


def send(handle: Instance, event_json: str, event_id: str | None = None) -> Awaitable[Outcome]:
    """`Instance.send` (under the page's `event_id`, kept in its outbox across reloads: the
    server applies each id once): the change shows locally at once (subscribers are told
    before this returns); the returned awaitable gives its seq once the server committed it,
    or the rejection's code. `subscribe` and `on_status` callbacks are not called for it: the
    caller reads the new state and status after it returned."""
    _Muted.on = True
    try:
        event = json.loads(event_json)
        future = handle.send_with_id(event_id, event) if event_id else handle.send(event)
    except StatesyncError as exc:
        return _ready(_failure(exc))
    except TypeError as exc:
        return _ready(Outcome(code="invalid-event", message=str(exc)))
    finally:
        _Muted.on = False
    return _outcome(future)


async def _ready(outcome: Outcome) -> Outcome:
    return outcome


def spawn(resolve: Callable[[Any], Any], reject: Callable[[str], Any],
          call: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Call `call(*args)` now and run the awaitable it returns as a task; then `resolve(its
    value)` or `reject(message)`. How the worker calls the bridge's coroutines under
    MicroPython: an async function JavaScript calls itself starts at once outside any task
    (MicroPython's FFI resolves it as a top-level await), where a `wait_for` or a cancel
    reaches the top-level coroutine and stops MicroPython's scheduler."""
    try:
        awaitable = call(*args)
    except BaseException as exc:  # noqa: BLE001 - handed to JavaScript
        reject(f"{type(exc).__name__}: {exc}")
        return

    async def run() -> None:
        try:
            value = await awaitable
        except BaseException as exc:  # noqa: BLE001 - handed to JavaScript
            reject(f"{type(exc).__name__}: {exc}")
            return
        resolve(value)

    asyncio.create_task(run())


async def query(client: Client, query_json: str) -> Outcome:
    """`Client.query` of `{machine, index, op, value, order, limit, cursor}`: a page as JSON."""
    outcome = await _outcome(client.query(**json.loads(query_json)))
    if outcome.code is not None:
        return outcome
    page = outcome.value
    return Outcome(json.dumps({"items": [item.to_dict() for item in page.items],
                               "cursor": page.cursor}))


async def watch(client: Client, query_json: str, on_change: Callable[[str], Any],
                on_end: Callable[[str | None, str], Any]) -> Outcome:
    """`Client.watch` of `{machine, index, op, value, order, limit}`: a `LiveQuery`, calling
    `on_change(change JSON)` (`{kind, instance, item}`) on every change from now on, and
    `on_end(code, message)` once it ends (`code` None: closed; else the server refused to
    watch it again, or ended it)."""

    def notify(change: Change) -> None:
        item = change.item.to_dict() if change.item is not None else None
        on_change(json.dumps({"kind": change.kind, "instance": change.instance, "item": item}))

    def ended(error: ClientError | None) -> None:
        if error is None:
            on_end(None, "")
        else:
            on_end(error.code, error.message)

    outcome = await _outcome(client.watch(**json.loads(query_json)))
    if outcome.code is None:
        outcome.value.subscribe(notify)
        outcome.value.on_end(ended)
    return outcome


def items_json(live: LiveQuery) -> str:
    return json.dumps([item.to_dict() for item in live.items])


async def close(target: Client | Instance | LiveQuery) -> None:
    await target.close()


# A restored memory snapshot holds the interpreter's heap but not the compiled code: Chromium
# compiles the hot WebAssembly functions again, in the background, once they have run enough.
# After a cold boot the imports did that; after a restore the first sends would (their tail
# latency doubled while the compiler ran). `warm_up_stepper` gives the worker the send path's
# work to run a few hundred times first: a transition with guards, assignments, nested and
# parallel states, JSON both ways, and a call back into JavaScript.
_WARM_UP = Machine(
    {"id": "warm-up", "type": "parallel",
     "context": {"items": [{"id": i, "done": False, "text": f"item {i}"} for i in range(8)],
                 "flips": 0},
     "states": {
         "list": {"initial": "idle", "states": {
             "idle": {"on": {"FLIP": {"target": "busy", "actions": "flip"}}},
             "busy": {"on": {"FLIP": [{"guard": "even", "target": "idle", "actions": "flip"},
                                      {"actions": "flip"}]}}}},
         "count": {"initial": "low", "states": {
             "low": {"always": {"guard": "many", "target": "high"}},
             "high": {}}}}},
    actions={"flip": assign(lambda context, event: {"flips": context["flips"] + 1, "items": [
        dict(item, done=not item["done"]) if item["id"] == event["id"] else item
        for item in context["items"]]})},
    guards={"even": lambda context, event: context["flips"] % 2 == 0,
            "many": lambda context, event: context["flips"] > 100},
)


def warm_up_stepper(sink: Callable[[str], Any]) -> Callable[[str], str]:
    """`step(event_json) -> snapshot_json` on a throwaway machine, each step also handing a
    JSON text to `sink` (as a send hands its frame to the WebSocket)."""
    snapshot = _WARM_UP.initial_transition()[0]

    def step(event_json: str) -> str:
        nonlocal snapshot
        snapshot, _actions = _WARM_UP.transition(snapshot, json.loads(event_json))
        sink(json.dumps({"type": "event", "event": event_json}))
        return json.dumps(snapshot.to_dict())

    return step
