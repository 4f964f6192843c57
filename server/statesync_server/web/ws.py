"""The WebSocket endpoint: one socket multiplexes many instances (see docs/protocol.md).

It speaks ASGI directly (`SyncSocket`, a middleware in front of the routes) rather than
through Starlette's `WebSocket` wrapper: every frame in and out of the hot path then goes
straight to uvicorn's protocol, without the wrapper's state checks and send hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import protocol as p
from ..engine.results import CreateResult, SendResult
from ..ops import Op
from ..errors import ErrorCode, StatesyncError
from ..engine.indexes import Query
from ..limits import INT_MAX, INT_MIN, check_value, loads
from ..engine.live_queries import Watch
from .coalesce import SEND_NOW
from .ratelimit import TokenBucket
from .runtime import Runtime, require_live

log = logging.getLogger("statesync")

REPLAY_WATERMARK = 1 << 20
"""Characters queued on a socket above which replays (`subscribe` with `since`) wait."""


class Connection:
    """One client socket: parses requests, submits them, and writes replies and updates in
    order through an outbound queue bounded in messages and bytes (a client that stops
    reading is disconnected; replays wait in `writable` instead of filling it)."""

    def __init__(self, receive: Receive, send: Send, runtime: Runtime,
                 send_now: Callable[[str], bool] | None = None) -> None:
        self._receive_message = receive
        self._send_message = send
        self._send_now = send_now  # the server's synchronous send, if it has one (coalesce.py)
        self.runtime = runtime
        self.claims: Mapping[str, Any] = {}
        self.closed = False
        self.keys: set[tuple[str, str]] = set()
        settings = runtime.settings
        self.bucket = TokenBucket(settings.rate_limit, settings.rate_burst)
        self.outbound: asyncio.Queue[str] = asyncio.Queue()
        self.outbound_bytes = 0  # characters queued and not yet written
        self._room = asyncio.Event()  # set while the queue is below the replay watermark
        self._room.set()
        self._closing: asyncio.Future[None] | None = None
        self.inflight = 0  # requests submitted and not yet answered
        self._drained = asyncio.Event()

    # --- Subscriber -----------------------------------------------------------------------

    def deliver(self, text: str) -> None:
        if self.closed:
            return
        # written at once when nothing is queued before it (else it would overtake that)
        if self.outbound_bytes == 0 and self._send_now is not None and self._send_now(text):
            return
        settings = self.runtime.settings
        if (self.outbound.qsize() >= settings.max_outbound
                or self.outbound_bytes + len(text) > settings.max_outbound_bytes):
            log.warning("closing a connection that does not read its messages")
            self.closed = True
            self._room.set()  # wake a waiting replay: it sees the connection closed
            reason = "too many unread messages"
            self._closing = asyncio.ensure_future(self._close(1008, reason))
            return
        self.outbound.put_nowait(text)
        self.outbound_bytes += len(text)
        if self.outbound_bytes > REPLAY_WATERMARK:
            self._room.clear()

    async def writable(self) -> bool:
        """Wait until fewer than `REPLAY_WATERMARK` characters are queued; False once closed."""
        while not self.closed and self.outbound_bytes > REPLAY_WATERMARK:
            self._room.clear()
            await self._room.wait()
        return not self.closed

    def lost(self, machine: str, instance: str, error: StatesyncError) -> None:
        self.keys.discard((machine, instance))
        self._error(error, None, machine, instance)

    # --- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        if (await self._receive_message())["type"] != "websocket.connect":
            return
        await self._send_message({"type": "websocket.accept"})
        writer = asyncio.create_task(self._write())
        connections = self.runtime.engine.metrics.connections
        connections.inc()
        try:
            await self._read()
        finally:
            connections.dec()
            self.closed = True
            self._room.set()
            self.runtime.engine.detach(self, list(self.keys))
            self.runtime.engine.live.drop(self)
            writer.cancel()

    async def _read(self) -> None:
        """Receive until the peer leaves. Reading pauses while `max_inflight` requests are
        unanswered (TCP pushes back on the client); a socket without a successful `auth`
        within `auth_timeout` seconds (0: no limit) gets an `unauthenticated` error and is
        closed (1008)."""
        settings = self.runtime.settings
        timeout = settings.auth_timeout
        deadline = asyncio.get_running_loop().time() + timeout if timeout > 0 else None
        while not self.closed:
            if self.inflight >= settings.max_inflight:
                self._drained.clear()
                # at most 1 s at a time: the subscribes of a closed socket are never answered
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained.wait(), 1.0)
                continue
            if self.claims:
                message = await self._receive_message()
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await self._receive_message()
                except TimeoutError:
                    await self._expire(timeout)
                    return
            if message["type"] == "websocket.disconnect":
                return
            self._receive(message.get("text"))

    async def _expire(self, timeout: float) -> None:
        self.closed = True
        error = p.Error(code=ErrorCode.UNAUTHENTICATED,
                        message=f"no successful auth within {timeout:g} s")
        with contextlib.suppress(Exception):  # the peer may be gone already
            await self._send_message({"type": "websocket.send", "text": error.model_dump_json()})
            await self._close(1008, "authentication timeout")

    async def _close(self, code: int, reason: str) -> None:
        await self._send_message({"type": "websocket.close", "code": code, "reason": reason})

    async def _write(self) -> None:
        send = self._send_message
        try:
            while True:
                text = await self.outbound.get()
                await send({"type": "websocket.send", "text": text})
                self.outbound_bytes -= len(text)
                if self.outbound_bytes <= REPLAY_WATERMARK:
                    self._room.set()
        except Exception:  # the peer went away; the reader notices too
            self.closed = True
            self._room.set()

    # --- requests -------------------------------------------------------------------------

    def _receive(self, text: str | None) -> None:
        if text is None:
            self._error(StatesyncError(ErrorCode.INVALID_MESSAGE, "binary frames are not supported"))
            return
        limit = self.runtime.settings.max_message_bytes
        if len(text) > limit or len(text.encode()) > limit:
            self._error(StatesyncError(ErrorCode.TOO_LARGE, f"messages are limited to {limit} bytes"))
            return
        try:
            raw = loads(text)
        except StatesyncError as exc:
            self._error(exc)
            return
        try:
            check_value(raw)
            message = p.client_message.validate_python(raw)
        except (StatesyncError, ValidationError) as exc:
            self._invalid(raw, exc)
            return
        if not self.bucket.take():
            error = StatesyncError(ErrorCode.RATE_LIMITED, "too many messages; slow down")
            self._fail(message, error)
            return
        try:
            self._dispatch(message)
        except StatesyncError as exc:
            self._fail(message, exc)
        except Exception:  # a bug must not drop the socket
            log.exception("failed to handle a %s message", message.type)
            self._fail(message, StatesyncError(ErrorCode.INTERNAL, "internal error"))

    def _dispatch(self, message: Any) -> None:
        match message:  # the hot case first: each class pattern is a (pydantic) isinstance check
            case p.Send(machine=m, instance=i, event=event, event_id=eid):
                op = Op("send", m, i, require_live(self.claims), lambda r: self._sent(message, r))
                op.event, op.event_id, op.settle = event, eid, message.settle
                self._submit(op)
            case p.Ping(id=rid):
                self._send(p.Pong(id=rid))
            case p.Auth(token=token, id=rid):
                claims = self.runtime.auth.verify(token)
                if self.claims and claims["sub"] != self.claims["sub"]:
                    # subscriptions, replays and watches were authorized for this subject
                    raise StatesyncError(ErrorCode.FORBIDDEN,
                                         "a connection keeps its subject; connect again as another")
                self.claims = claims
                self._send(p.Authed(id=rid, sub=self.claims["sub"], exp=int(self.claims["exp"])))
            case p.Create(machine=m, instance=i, id=rid):
                claims = require_live(self.claims)
                self.runtime.check_create_quota(claims)
                op = Op("create", m, i, claims, lambda r: self._created(rid, r))
                op.input, op.if_exists = message.input, message.if_exists
                self._submit(op)
            case p.Get(machine=m, instance=i, id=rid):
                self._submit(Op("get", m, i, require_live(self.claims),
                                lambda r: self._state(rid, r)))
            case p.Subscribe(machine=m, instance=i, id=rid, since=since):
                op = Op("subscribe", m, i, require_live(self.claims),
                        lambda r: self._subscribed(message, r))
                op.since, op.subscriber = since, self
                self.keys.add((m, i))  # now, so that an unsubscribe sent next reaches the engine
                self._submit(op)
            case p.Query():
                claims = require_live(self.claims)
                self._started()
                task = asyncio.ensure_future(self._query(message, claims))
                task.add_done_callback(lambda t: self._answered() or t.cancelled() or t.exception())
            case p.Watch(id=rid):
                claims = require_live(self.claims)
                watch = self.runtime.engine.live.add(self, rid, _watched(message))
                self._started()
                task = asyncio.ensure_future(self._query(message, claims, watch))
                task.add_done_callback(lambda t: self._answered() or t.cancelled() or t.exception())
            case p.Unwatch(id=rid):
                require_live(self.claims)
                self.runtime.engine.live.remove(self, rid)
                self._send(p.Unwatched(id=rid))
            case p.Unsubscribe(machine=m, instance=i, id=rid):
                claims = require_live(self.claims)
                unsubscribed = p.Unsubscribed(id=rid, machine=m, instance=i)
                if (m, i) not in self.keys:  # nothing to undo: answered here, no database read
                    self._send(unsubscribed)
                    return
                self.keys.discard((m, i))
                op = Op("unsubscribe", m, i, claims, lambda r: self._send(unsubscribed))
                op.subscriber = self
                self._submit(op)

    def _submit(self, op: Op) -> None:
        """Hand `op` to the engine, counted in flight until it is answered."""
        reply = op.reply

        def answered(result: Any) -> None:
            self._answered()
            reply(result)

        op.reply = answered
        self._started()
        self.runtime.engine.submit(op)

    def _started(self) -> None:
        self.inflight += 1

    def _answered(self) -> None:
        self.inflight -= 1
        self._drained.set()

    async def _query(self, message: p.Query | p.Watch, claims: Mapping[str, Any],
                     watch: Watch | None = None) -> None:
        """Answer a `query`, or the first page of a `watch` (then its held changes)."""
        from .http_queries import results
        from ..engine.indexes import run_query

        query = watch.query if watch is not None else Query(
            message.machine, message.index, message.op, message.value, message.order,
            message.limit, message.cursor)
        try:
            items, cursor = await run_query(self.runtime.app, self.runtime.engine.store, claims,
                                            query, self.runtime.engine.cursors)
        except Exception as exc:
            if watch is not None:
                self.runtime.engine.live.remove(self, watch.id)
            if not isinstance(exc, StatesyncError):
                log.exception("query failed")
                exc = StatesyncError(ErrorCode.INTERNAL, "query failed")
            self._error(exc, message.id, message.machine)
            return
        reply = p.Results(id=message.id, **results(query, items, cursor),
                          path=_index_path(self.runtime.app, query) if watch else None)
        if watch is None:
            self._send(reply)
        else:
            seqs = {item.state.instance: item.state.seq for item in items}
            self.runtime.engine.live.start(watch, reply.model_dump_json(), seqs)

    # --- replies (called by the engine, in commit order) ----------------------------------

    def _sent(self, message: p.Send, result: SendResult | StatesyncError) -> None:
        if isinstance(result, StatesyncError):
            self._fail(message, result)
        else:
            self.deliver(result.ack_json(message.event_id, message.machine, message.instance))

    def _created(self, rid: p.RequestId, result: CreateResult | StatesyncError) -> None:
        if isinstance(result, StatesyncError):
            self._error(result, rid)
        else:
            self._send(p.Created(id=rid, existed=result.existed, **result.state.model_dump()))

    def _state(self, rid: p.RequestId, result: p.PublicState | StatesyncError) -> None:
        if isinstance(result, StatesyncError):
            self._error(result, rid)
        else:
            self._send(p.State(id=rid, **result.model_dump()))

    def _subscribed(self, message: p.Subscribe, result: int | StatesyncError) -> None:
        if isinstance(result, StatesyncError):
            self.keys.discard((message.machine, message.instance))
            self._error(result, message.id, message.machine, message.instance)
        else:
            self._send(p.Subscribed(id=message.id, machine=message.machine,
                                    instance=message.instance, seq=result))

    # --- helpers --------------------------------------------------------------------------

    def _send(self, message: Any) -> None:
        self.deliver(message.model_dump_json())

    def _error(self, error: StatesyncError, rid: p.RequestId = None,
               machine: str | None = None, instance: str | None = None) -> None:
        self._send(p.Error(id=rid, code=error.code, message=error.message,
                           fields=error.fields, machine=machine, instance=instance))

    def _fail(self, message: Any, error: StatesyncError) -> None:
        """Answer a request with an error: a `reject` for events, else an `error`."""
        if isinstance(message, p.Send):
            self._send(p.Reject(event_id=message.event_id, machine=message.machine,
                                instance=message.instance, code=error.code, message=error.message,
                                fields=error.fields))
        else:
            self._error(error, getattr(message, "id", None), getattr(message, "machine", None),
                        getattr(message, "instance", None))

    def _invalid(self, raw: Any, exc: ValidationError | StatesyncError) -> None:
        """Report a malformed message, correlated to its request or event id when possible."""
        if isinstance(exc, StatesyncError):
            error = exc
        else:
            detail = "; ".join(
                f"{'.'.join(map(str, e['loc'][1:] or e['loc'])) or 'message'}: {e['msg']}"
                for e in exc.errors()[:5]
            )
            error = StatesyncError(ErrorCode.INVALID_MESSAGE, detail)
        if not isinstance(raw, dict):
            self._error(error)
            return
        rid = raw.get("id") if _echoable(raw.get("id")) else None
        machine = raw.get("machine") if isinstance(raw.get("machine"), str) else None
        instance = raw.get("instance") if isinstance(raw.get("instance"), str) else None
        event_id = raw.get("event_id")
        if raw.get("type") == "send" and isinstance(event_id, str) and machine and instance:
            self._send(p.Reject(event_id=event_id, machine=machine, instance=instance,
                                code=error.code, message=error.message))
        else:
            self._error(error, rid, machine, instance)


def _index_path(app: Any, query: Query) -> str | None:
    """The path of a watched index for the client's optimistic placement; None for an index
    whose values are never shown (`public=False`)."""
    spec = app.machines.get(query.machine)
    if spec is None or spec.index_public.get(query.index) is False:
        return None
    return (spec.indexes or {}).get(query.index)


def _watched(message: p.Watch) -> Query:
    """The query a `watch` keeps up to date (`limit`: the size of its first page)."""
    return Query(message.machine, message.index, message.op, message.value, message.order,
                 message.limit)


def _echoable(rid: Any) -> bool:
    """Whether an error may echo this request id: a string of at most 200 characters, or an
    integer (not a bool) within signed 64 bits."""
    if isinstance(rid, str):
        return len(rid) <= 200
    return isinstance(rid, int) and not isinstance(rid, bool) and INT_MIN <= rid <= INT_MAX


class SyncSocket:
    """ASGI middleware serving `/v1/ws` itself (placed after origins.HostGuard, which checks
    its handshake's `Host` and `Origin`); everything else goes on to `app`."""

    PATH = "/v1/ws"

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app, self.runtime = app, runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == self.PATH:
            send_now = scope.get("extensions", {}).get(SEND_NOW)
            await Connection(receive, send, self.runtime, send_now).run()
        else:
            await self.app(scope, receive, send)
