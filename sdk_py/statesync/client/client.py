"""`Client`: one multiplexed connection to a statesync server, with reconnects and handles."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ..machine import Machine
from ..sender import Sender
from ..settings import SETTINGS_MACHINE, settings_instance, settings_machine
from .backoff import Backoff
from .errors import ClientClosed, ClientError, TransportClosed
from .instance import Instance
from .pacing import Pacer
from .queries import Item, LiveQuery, Page
from .reconcile import Reconciler
from .session import AnonymousSession, TokenSource, token_claims
from .transport import Socket, Transport, default_transport
from .user_settings import UserSettings

log = logging.getLogger("statesync.client")

Status = Literal["connecting", "live", "reconnecting", "offline"]
StatusListener = Callable[[dict[str, Any]], Any]

DEFAULT_BACKOFF = Backoff()

# Rejections that say nothing about the event itself: keep it and resend after reconnecting
# (`unavailable`: the server's database is away or full; nothing was applied).
_TRANSIENT = frozenset({"unauthenticated", "rate-limited", "unavailable"})
# Errors ending a subscription that a new connection resumes (from the last seq seen).
_RESUMABLE = frozenset({"unauthenticated", "unavailable"})


class Client:
    """A connection to a statesync server shared by every instance handle.

    `url` is the server's base URL (`http://host:port`) or its WebSocket URL. `token` is a
    JWT or a function (sync or async) returning one; it is asked again before the token
    expires and on every reconnect. Without a token the client uses an anonymous session.
    `machines` maps machine names to the same `Machine` definitions the server uses, for
    optimistic updates. `max_rate` paces outgoing messages (per second, bursts of twice
    that) below the server's rate limit; None sends as fast as possible.
    """

    def __init__(
        self,
        url: str,
        *,
        token: TokenSource | None = None,
        machines: Mapping[str, Machine] | None = None,
        transport: Transport | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        request_timeout: float = 10.0,
        refresh_margin: float = 30.0,
        max_rate: float | None = 800.0,
    ) -> None:
        self.ws_url, self.http_url = _urls(url)
        self.transport = transport or default_transport()
        self.token = token if token is not None else AnonymousSession(
            self.http_url, transport=self.transport)
        self.machines: dict[str, Machine] = {SETTINGS_MACHINE: settings_machine, **(machines or {})}
        self.backoff = backoff
        self.request_timeout = request_timeout
        self.refresh_margin = refresh_margin
        self.max_rate = max_rate
        self.status: Status = "offline"
        self.subject: str | None = None
        self.claims: dict[str, Any] = {}
        """The token's claims as the client reads them (unverified; `sub` as the server said)."""
        self.last_error: BaseException | None = None
        self._instances: dict[tuple[str, str], Instance] = {}
        self._queries: list[LiveQuery] = []
        self._watches: dict[int, LiveQuery] = {}  # by the id of the current watch
        self._status_listeners: list[StatusListener] = []
        self._reported: tuple[Status, int] | None = None
        self._requests: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._socket: Socket | None = None
        self._outbox: asyncio.Queue[str] | None = None
        self._sending = False  # the handshake is done: sends go out at once
        self._live = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._refresh: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False

    # --- lifecycle --------------------------------------------------------------------------

    async def connect(self, timeout: float | None = None) -> Client:
        """Start connecting (if not yet) and wait until live; `TransportClosed` on timeout
        (the client keeps trying in the background)."""
        if self._closed:
            raise ClientClosed("the client is closed")
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        await self._wait_live(self.request_timeout if timeout is None else timeout)
        return self

    async def close(self) -> None:
        """Close the connection and every handle (unconfirmed sends fail with `ClientClosed`)."""
        self._closed = True
        for instance in list(self._instances.values()):
            instance._end(ClientClosed("the client was closed"))
        self._instances.clear()
        for live in list(self._queries):
            live._end(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._background):
            task.cancel()
        self._set_status("offline")

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # --- instances --------------------------------------------------------------------------

    async def instance(self, machine: str, name: str, create: Any = None, *,
                       optimistic: bool = True) -> Instance:
        """A synced handle on instance `name` of `machine`.

        With `create` (the input, e.g. `{}`), the instance is created if it does not exist
        (get-or-create); without it, it must exist (`ClientError` `not-found`). Handles are
        shared: asking twice for the same instance gives the same handle.
        """
        key = (machine, name)
        existing = self._instances.get(key)
        if existing is not None:
            await asyncio.wait_for(existing._ready.wait(), self.request_timeout)
            if existing.closed:
                raise existing.error or ClientClosed(f"{machine}/{name} was closed")
            return existing
        await self.connect()
        reconciler = Reconciler(self.machines.get(machine) if optimistic else None,
                                lambda: self.sender)
        handle = Instance(self, machine, name, reconciler)
        self._instances[key] = handle
        try:
            if create is not None:
                handle._confirm(await self._call({"type": "create", "machine": machine,
                                                  "instance": name, "input": create,
                                                  "if_exists": "get"}))
            await self._call(self._subscription(handle))
            await asyncio.wait_for(handle._ready.wait(), self.request_timeout)
        except BaseException as exc:
            self._instances.pop(key, None)
            handle._end(exc if isinstance(exc, Exception) else ClientClosed("cancelled"))
            raise
        if handle.error is not None:
            raise handle.error
        return handle

    async def settings(self, namespace: str, defaults: Mapping[str, Any] | None = None
                       ) -> UserSettings:
        """The caller's own settings in `namespace` (created on first use), over `defaults`."""
        await self.connect()
        assert self.subject is not None
        name = settings_instance(namespace, self.subject)
        return UserSettings(await self.instance(SETTINGS_MACHINE, name, create={}), defaults)

    # --- queries ----------------------------------------------------------------------------

    async def query(self, machine: str, index: str, op: str = "eq", value: Any = None, *,
                    order: str = "asc", limit: int = 50, cursor: str | None = None) -> Page:
        """One page of instances by index (`op`: eq ne lt lte gt gte prefix), readable by
        this client, in index order; pass `page.cursor` for the next page."""
        if value is None:
            raise TypeError("value is required (a string, number or boolean)")
        await self.connect()
        message = {"type": "query", "machine": machine, "index": index, "op": op,
                   "value": value, "order": order, "limit": limit}
        if cursor is not None:
            message["cursor"] = cursor
        reply = await self._call(message)
        return Page([Item.from_server(item) for item in reply["items"]], reply["cursor"])

    async def watch(self, machine: str, index: str, op: str = "eq", value: Any = None, *,
                    order: str = "asc", limit: int = 50) -> LiveQuery:
        """A live query: every matching instance (read in pages of `limit`), kept up to date
        by the server and watched again after reconnecting."""
        if value is None:
            raise TypeError("value is required (a string, number or boolean)")
        await self.connect()
        live = LiveQuery(self, machine, index, op, value, order, limit)
        self._queries.append(live)
        if self._sending:  # else the handshake loads it
            await live._load()
        try:
            await asyncio.wait_for(live._ready.wait(), self.request_timeout)
        except TimeoutError:
            live._end(None)
            raise TransportClosed(f"watch not answered: {self.last_error}") from None
        if live.error is not None:
            raise live.error
        if live.closed:
            raise ClientClosed("the client was closed")
        return live

    def _placed(self, handle: Instance) -> None:
        """A handle's visible state changed (or it ended): the live queries of its machine
        place it again (their optimistic items)."""
        for live in list(self._queries):
            if live.machine == handle.machine:
                live._reconsider(handle.name)

    def _forget_query(self, live: LiveQuery) -> None:
        if live in self._queries:
            self._queries.remove(live)
        self._watches = {i: q for i, q in self._watches.items() if q is not live}

    # --- status -----------------------------------------------------------------------------

    @property
    def sender(self) -> Sender:
        """The local user as optimistic transitions see it (`Sender.client` of `claims`)."""
        return Sender.client(self.claims)

    @property
    def unsaved(self) -> int:
        """Events sent and not yet confirmed, over all handles."""
        return sum(len(i._reconciler.pending) for i in self._instances.values())

    def status_info(self) -> dict[str, Any]:
        """`{"status", "unsaved", "subject"}` for a UI."""
        return {"status": self.status, "unsaved": self.unsaved, "subject": self.subject}

    def on_status(self, callback: StatusListener) -> Callable[[], None]:
        """Call `callback(status_info)` when the status or the unsaved count changes."""
        self._status_listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._status_listeners:
                self._status_listeners.remove(callback)

        return unsubscribe

    def _set_status(self, status: Status) -> None:
        self.status = status
        self._changed()

    def _changed(self) -> None:
        now = (self.status, self.unsaved)
        if now == self._reported:
            return
        self._reported = now
        info = self.status_info()
        for listener in list(self._status_listeners):
            try:
                listener(info)
            except Exception:
                log.exception("a status listener raised")

    # --- the connection loop ----------------------------------------------------------------

    async def _run(self) -> None:
        attempt, was_live = 0, False
        self._set_status("connecting")
        while not self._closed:
            try:
                await self._session()
            except (TransportClosed, ClientError, TimeoutError) as exc:
                self.last_error = exc
                log.info("statesync connection ended: %s", exc)
            except Exception as exc:  # e.g. a token provider that raised: keep retrying
                self.last_error = exc
                log.warning("statesync connection failed: %r", exc)
            if self.status == "live":
                attempt, was_live = 0, True
            if self._closed:
                break
            if attempt >= self.backoff.offline_after:
                self._set_status("offline")
            else:
                self._set_status("reconnecting" if was_live or attempt else "connecting")
            await asyncio.sleep(self.backoff.delay(attempt))
            attempt += 1

    async def _session(self) -> None:
        """One connection: handshake, then serve until the socket closes."""
        socket = await self.transport.connect(self.ws_url)
        outbox: asyncio.Queue[str] = asyncio.Queue()
        self._socket, self._outbox = socket, outbox
        reader = asyncio.create_task(self._read(socket))
        pacer = Pacer(self.max_rate, 2 * self.max_rate) if self.max_rate else None
        writer = asyncio.create_task(_write(socket, outbox, pacer))
        try:
            await self._handshake()
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._socket = self._outbox = None
            self._sending = False
            self._live.clear()
            if self._refresh is not None:
                self._refresh.cancel()
            reader.cancel()
            writer.cancel()
            self._fail_requests(TransportClosed("connection lost"))
            with contextlib.suppress(Exception):
                await socket.close()

    async def _handshake(self) -> None:
        """Authenticate, re-subscribe every handle from its last seq, re-send pending events."""
        await self._authenticate()
        handles = list(self._instances.values())
        results = await asyncio.gather(
            *(self._request(self._subscription(h)) for h in handles), return_exceptions=True)
        for handle, result in zip(handles, results, strict=True):
            if isinstance(result, ClientError) and result.code in _RESUMABLE:
                raise result  # reconnect (with back-off) and subscribe again
            if isinstance(result, ClientError):
                self._lose(handle, result)
            elif isinstance(result, BaseException):
                raise result
        self._sending = True
        for handle in self._instances.values():
            for pending in handle._reconciler.pending.values():
                self._transmit(handle, pending.event_id, pending.event)
        self._set_status("live")
        self._live.set()
        for live in self._queries:
            self._spawn(live._load())

    async def _authenticate(self) -> None:
        token = self.token
        if callable(token):
            token = token()
            if inspect.isawaitable(token):
                token = await token
        reply = await self._request({"type": "auth", "token": token})
        self.subject = reply["sub"]
        self.claims = {**token_claims(token), "sub": reply["sub"]}
        if callable(self.token) and reply.get("exp") is not None:  # a fixed token stays fixed
            left = reply["exp"] - time.time()
            delay = max(0.0, left - min(self.refresh_margin, left / 2))
            self._refresh = asyncio.get_running_loop().call_later(delay, self._spawn_refresh)

    def _spawn_refresh(self) -> None:
        self._spawn(self._reauthenticate())

    async def _reauthenticate(self) -> None:
        """Refresh the token on the live socket; on failure reconnect (which asks again)."""
        try:
            await self._authenticate()
        except (ClientError, TransportClosed, TimeoutError) as exc:
            self.last_error = exc
            log.warning("statesync token refresh failed: %s", exc)
            self._drop()

    def _drop(self) -> None:
        """Close the socket: the connection loop reconnects (re-auth, re-subscribe, re-send)."""
        if self._socket is not None:
            self._spawn(self._socket.close())

    # --- messages ---------------------------------------------------------------------------

    def _subscription(self, handle: Instance) -> dict[str, Any]:
        message = {"type": "subscribe", "machine": handle.machine, "instance": handle.name}
        if handle.confirmed is not None:
            message["since"] = handle.confirmed.seq
        return message

    def _transmit(self, handle: Instance, event_id: str, event: dict[str, Any]) -> None:
        """Send an event now if the connection is ready (else the handshake will)."""
        if self._sending and self._outbox is not None:
            self._outbox.put_nowait(json.dumps({
                "type": "send", "machine": handle.machine, "instance": handle.name,
                "event": event, "event_id": event_id}))

    async def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request on the current socket and wait for its reply (bounded)."""
        if self._outbox is None:
            raise TransportClosed("not connected")
        request_id = message["id"] if "id" in message else next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._requests[request_id] = future
        self._outbox.put_nowait(json.dumps({**message, "id": request_id}))
        try:
            return await asyncio.wait_for(future, self.request_timeout)
        finally:
            self._requests.pop(request_id, None)

    async def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        """A retryable request: wait until live, retry if the connection drops (bounded)."""
        deadline = time.monotonic() + self.request_timeout
        while True:
            await self._wait_live(deadline - time.monotonic())
            try:
                return await self._request(message)
            except TransportClosed:
                if time.monotonic() >= deadline:
                    raise

    async def _wait_live(self, timeout: float) -> None:
        if self._closed:
            raise ClientClosed("the client is closed")
        try:
            await asyncio.wait_for(self._live.wait(), max(timeout, 0.0))
        except TimeoutError:
            raise TransportClosed(f"not connected to {self.ws_url}: {self.last_error}") from None

    async def _read(self, socket: Socket) -> None:
        try:
            while True:
                self._dispatch(json.loads(await socket.recv()))
        except TransportClosed:
            pass
        except Exception:  # a malformed message: start over on a fresh connection
            log.exception("statesync client failed to handle a server message")
        finally:
            self._fail_requests(TransportClosed("connection lost"))

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        handle = self._instances.get((message.get("machine"), message.get("instance")))
        if kind == "update":
            if handle is not None:
                handle._confirm(message)
        elif kind == "emitted":
            if handle is not None:
                handle._emitted(message["event"])
        elif kind == "ack":
            if handle is not None:
                handle._ack(message["event_id"], message["seq"])
        elif kind == "reject":
            if message["code"] in _TRANSIENT:
                self._drop()  # keep the event; it is sent again after reconnecting
            elif handle is not None:
                handle._reject(message["event_id"], message["code"], message["message"],
                               message.get("fields"))
        elif kind == "query-change":
            if (live := self._watches.get(message.get("id"))) is not None:  # type: ignore[arg-type]
                live._change(message)
        elif (future := self._requests.get(message.get("id"))) is not None:  # type: ignore[arg-type]
            if future.done():
                return
            if kind == "error":
                future.set_exception(ClientError.from_message(message))
            else:
                future.set_result(message)
        elif kind == "error" and (live := self._watches.get(message.get("id"))) is not None:  # type: ignore[arg-type]
            # The server ended a watch: an expired token reconnects, any other cause ends it.
            if message["code"] == "unauthenticated":
                self._drop()
            else:
                live._end(ClientError.from_message(message))
        elif kind == "error" and handle is not None:
            # The server ended a subscription: an expired token or a database outage
            # reconnects (and subscribes again with `since`), a denial ends it.
            if message["code"] in _RESUMABLE:
                self._drop()
            else:
                self._lose(handle, ClientError.from_message(message))
        elif kind == "error":
            log.warning("statesync server error: %s: %s",
                        message.get("code"), message.get("message"))

    def _lose(self, handle: Instance, error: ClientError) -> None:
        """The server will not serve this handle any more (forbidden, deleted)."""
        self._instances.pop((handle.machine, handle.name), None)
        handle.error = error
        handle._end(error)
        self._placed(handle)

    def _fail_requests(self, error: Exception) -> None:
        for future in self._requests.values():
            if not future.done():
                future.set_exception(error)

    async def _close_instance(self, handle: Instance) -> None:
        self._instances.pop((handle.machine, handle.name), None)
        handle._end(ClientClosed(f"{handle.machine}/{handle.name} was closed"))
        self._placed(handle)
        if self._sending:
            with contextlib.suppress(ClientError, TransportClosed, TimeoutError):
                await self._request({"type": "unsubscribe", "machine": handle.machine,
                                     "instance": handle.name})

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def _write(socket: Socket, outbox: asyncio.Queue[str], pacer: Pacer | None) -> None:
    """Write queued frames in order (paced) until the socket fails."""
    try:
        while True:
            text = await outbox.get()
            if pacer is not None:
                await pacer.take()
            await socket.send(text)
    except TransportClosed:
        pass


def _urls(url: str) -> tuple[str, str]:
    """(WebSocket URL, HTTP base URL) from either of them."""
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme in ("https", "wss")
    path = parts.path.rstrip("/")
    base = path[: -len("/v1/ws")] if path.endswith("/v1/ws") else path
    ws = urllib.parse.urlunsplit(("wss" if secure else "ws", parts.netloc, base + "/v1/ws", "", ""))
    http = urllib.parse.urlunsplit(("https" if secure else "http", parts.netloc, base, "", ""))
    return ws, http
